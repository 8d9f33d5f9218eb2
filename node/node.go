package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/scoring"
	"github.com/strata-io/strata/storage"
)

// Node is one Strata process: embedded NATS (unless an external URL is set),
// Pebble, the shards, the HTTP API and the NATS request-reply service.
type Node struct {
	cfg     Config
	log     hclog.Logger
	ns      *server.Server
	nc      *nats.Conn
	js      jetstream.JetStream
	db      *storage.DB
	cluster *cluster.Cluster
	model   *scoring.Model
	reg     *prometheus.Registry
	httpLn  net.Listener
	httpSrv *http.Server
	svc     micro.Service
	// bg runs background work (applying the model file); Close cancels
	// it and waits.
	bg     context.Context
	stopBG context.CancelFunc
	bgWG   sync.WaitGroup
}

// Start validates cfg and brings a node up; it returns once the shards are
// open (readiness follows as leaders start ingesting: see Ready).
func Start(ctx context.Context, cfg Config) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n = &Node{cfg: cfg, log: cfg.Logger}
	n.bg, n.stopBG = context.WithCancel(context.Background())
	if n.log == nil {
		n.log = hclog.New(&hclog.LoggerOptions{
			Name: "strata", Level: hclog.LevelFromString(cfg.LogLevel), JSONFormat: cfg.LogJSON, Output: os.Stderr,
			IndependentLevels: true,
		})
	}
	// "return nil, err" clears n before deferred calls run: close the
	// half-started node through its own variable.
	started := n
	defer func() {
		if err != nil {
			started.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("node: data dir: %w", err)
	}
	if n.model, err = scoring.NewModel(cfg.Model); err != nil {
		return nil, err
	}
	var modelFile *cluster.ModelSource
	if cfg.ModelFile != "" {
		if modelFile, err = readModelFile(cfg.ModelFile); err != nil {
			return nil, err
		}
	}
	if err := n.startNATS(); err != nil {
		return nil, err
	}
	opts := storage.DefaultOptions()
	opts.CacheSize = cfg.CacheBytes
	opts.Logger = n.quiet("pebble", hclog.Warn)
	if n.db, err = storage.Open(filepath.Join(cfg.DataDir, "pebble"), opts); err != nil {
		return nil, err
	}
	n.reg = prometheus.NewRegistry()
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newPebbleCollector(n.db))
	// Every shard's outbox publisher and dead-letter path share this context.
	// An acknowledgement can be lost for good (the stream's leader is on a
	// NATS server that went down after the publish reached it): without a
	// timeout its future never resolves and the shard's publisher waits on
	// it forever. On the timeout the publisher republishes with the same
	// Nats-Msg-Ids, which the stream's duplicate window drops.
	js, err := jetstream.New(n.nc, jetstream.WithPublishAsyncMaxPending(16384),
		jetstream.WithPublishAsyncTimeout(cfg.Cluster.PublishAckTimeout))
	if err != nil {
		return nil, fmt.Errorf("node: jetstream: %w", err)
	}
	n.js = js
	if err := n.listenHTTP(); err != nil {
		return nil, err
	}
	var tlsCfg *cluster.TLSConfig
	if cfg.TLSCert != "" {
		if tlsCfg, err = cluster.LoadTLS(cfg.TLSCert, cfg.TLSKey, cfg.TLSCA); err != nil {
			return nil, fmt.Errorf("node: tls: %w", err)
		}
	}
	cc := cfg.clusterConfig()
	cc.HTTPAddr = n.HTTPAddr()
	n.cluster, err = cluster.Open(ctx, cc, cluster.Deps{
		DB: n.db, Model: n.model, JS: js, Clock: cfg.Clock, TLS: tlsCfg, Faults: cfg.Faults, Listener: cfg.RaftListener,
		Metrics: cluster.NewMetrics(n.reg), Logger: n.log.Named("cluster"), RaftLogger: n.quiet("raft", hclog.Error),
	})
	if err != nil {
		return nil, err
	}
	if err := n.startService(); err != nil {
		return nil, err
	}
	if err := n.startHTTP(); err != nil {
		return nil, err
	}
	if modelFile != nil {
		n.bgWG.Add(1)
		go func() {
			defer n.bgWG.Done()
			n.applyModelFile(n.bg, modelFile)
		}()
	}
	n.log.Info("strata started", "node", cfg.NodeID, "http", n.HTTPAddr(), "raft", n.cluster.RaftAddr(), "nats", n.NATSURL(),
		"shards", cfg.Shards, "data", cfg.DataDir, "model", n.cluster.ModelPlan().ActiveID())
	return n, nil
}

// quiet returns a sub-logger for a chatty library that logs at least at
// level min, unless the node logs at debug or trace. Raft gets Error: its
// warnings include the heartbeat timeout every single-voter group goes
// through at start.
func (n *Node) quiet(name string, min hclog.Level) hclog.Logger {
	l := n.log.Named(name)
	if lvl := hclog.LevelFromString(n.cfg.LogLevel); n.cfg.Logger == nil && lvl > hclog.Debug && lvl < min {
		l.SetLevel(min)
	}
	return l
}

func (n *Node) startNATS() error {
	url := n.cfg.NATSURL
	if url == "" {
		host, portS, _ := net.SplitHostPort(n.cfg.NATSListen)
		port, err := net.LookupPort("tcp", portS)
		if err != nil {
			return fmt.Errorf("node: nats listen port %q: %w", portS, err)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		opts := &server.Options{
			ServerName: n.cfg.NodeID, Host: host, Port: port,
			JetStream: true, StoreDir: filepath.Join(n.cfg.DataDir, "nats"),
			SyncInterval: n.cfg.NATSSyncInterval, SyncAlways: n.cfg.NATSSyncAlways,
			NoSigs: true, NoLog: true, MaxPayload: server.MAX_PAYLOAD_SIZE,
		}
		ns, err := server.NewServer(opts)
		if err != nil {
			return fmt.Errorf("node: embedded nats: %w", err)
		}
		ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			ns.Shutdown()
			return errors.New("node: embedded nats did not become ready in 10s")
		}
		n.ns = ns
		url = ns.ClientURL()
	}
	nc, err := nats.Connect(url, nats.Name("strata "+n.cfg.NodeID), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("node: connect %s: %w", url, err)
	}
	n.nc = nc
	return nil
}

// listenHTTP binds the HTTP address early: the cluster advertises it.
func (n *Node) listenHTTP() error {
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("node: http listen: %w", err)
	}
	n.httpLn = ln
	return nil
}

func (n *Node) startHTTP() error {
	ln := n.httpLn
	n.httpSrv = &http.Server{Handler: n.routes(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := n.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server", "error", err)
		}
	}()
	return nil
}

// HTTPAddr is the HTTP API's listen address.
func (n *Node) HTTPAddr() string {
	if n.httpLn == nil {
		return ""
	}
	return n.httpLn.Addr().String()
}

// NATSURL is the URL of the NATS server the node uses.
func (n *Node) NATSURL() string {
	if n.ns != nil {
		return n.ns.ClientURL()
	}
	return n.cfg.NATSURL
}

// Cluster returns the node's shards (tests, bench).
func (n *Node) Cluster() *cluster.Cluster { return n.cluster }

// Registry returns the node's Prometheus registry.
func (n *Node) Registry() *prometheus.Registry { return n.reg }

// Ready returns nil when every shard has a leader that ingests.
func (n *Node) Ready() error {
	if n.cluster == nil {
		return errors.New("starting")
	}
	if !n.nc.IsConnected() {
		return errors.New("nats disconnected")
	}
	return n.cluster.Ready()
}

// WaitReady blocks until Ready or ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		err := n.Ready()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: not ready: %w (%w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// Close stops the node: HTTP, the NATS service, the shards, Pebble, NATS.
func (n *Node) Close() error {
	n.stopBG()
	n.bgWG.Wait()
	var errs []error
	if n.httpSrv != nil {
		// Requests in flight get a grace period; past it (a strong read
		// waiting on a shard that is failing over) they are cut off, which
		// is an ordinary part of stopping, not a failed close.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := n.httpSrv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			n.log.Warn("HTTP requests still running after 5s; closing their connections")
			errs = append(errs, n.httpSrv.Close())
		} else {
			errs = append(errs, err)
		}
		cancel()
	} else if n.httpLn != nil {
		_ = n.httpLn.Close()
	}
	if n.svc != nil {
		errs = append(errs, n.svc.Stop())
	}
	if n.cluster != nil {
		errs = append(errs, n.cluster.Close())
	}
	if n.db != nil {
		errs = append(errs, n.db.Close())
	}
	if n.nc != nil {
		n.nc.Close()
	}
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
	err := errors.Join(errs...)
	if err != nil {
		n.log.Error("shutdown", "error", err)
	} else {
		n.log.Info("strata stopped")
	}
	return err
}

// DB returns the node's Pebble database (tests, tools).
func (n *Node) DB() *storage.DB { return n.db }
