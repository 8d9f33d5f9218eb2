package node_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/cluster/clocktest"
	"github.com/strata-io/strata/node"
)

// clusterHarness runs several real nodes in this process against one NATS
// server, with real Raft over TCP through a fault-injecting transport and
// real Pebble on disk.
type clusterHarness struct {
	t       *testing.T
	natsURL string // comma-separated when NATS is itself a cluster
	clock   *clocktest.Clock
	faults  *cluster.Faults
	tune    func(id string, cfg *node.Config)

	mu      sync.Mutex
	members map[string]*member
	order   []string

	nc    *nats.Conn
	js    jetstream.JetStream
	trans *collector
}

type member struct {
	id, dir, raftAddr string
	join              bool
	node              *node.Node
	ln                net.Listener // bound on raftAddr, handed to the next start
}

// newClusterHarness starts n nodes (n1 forms the cluster, the others join
// it) and waits until every shard has its replicas.
func newClusterHarness(t *testing.T, n int, tune func(id string, cfg *node.Config)) *clusterHarness {
	return newClusterHarnessOn(t, startNATS(t, &server.Options{}).ClientURL(), n, tune)
}

// startNATS starts a JetStream server on loopback with opts (host, port,
// store dir and logging filled in) and shuts it down after the test.
func startNATS(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	ns := launchNATS(t, opts)
	if !ns.ReadyForConnections(waitFor) {
		t.Fatal("NATS not ready")
	}
	return ns
}

// launchNATS starts the server of startNATS without waiting for it.
func launchNATS(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port, opts.JetStream, opts.NoLog, opts.NoSigs = "127.0.0.1", server.RANDOM_PORT, true, true, true
	opts.StoreDir = t.TempDir()
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// newClusterHarnessOn is newClusterHarness against NATS at natsURL.
func newClusterHarnessOn(t *testing.T, natsURL string, n int, tune func(id string, cfg *node.Config)) *clusterHarness {
	h := &clusterHarness{t: t, natsURL: natsURL, clock: clocktest.New(t0), faults: cluster.NewFaults(1), tune: tune,
		members: map[string]*member{}}
	var err error
	testWriter(t) // registered first: prints the logs after stopAll
	t.Cleanup(h.stopAll)
	for i := 1; i <= n; i++ {
		h.add(fmt.Sprintf("n%d", i))
	}
	if h.nc, err = nats.Connect(natsURL, nats.MaxReconnects(-1)); err != nil {
		t.Fatal(err)
	}
	if h.js, err = jetstream.New(h.nc, jetstream.WithPublishAsyncTimeout(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	h.trans = collect(t, h.js, cluster.TransitionsStream)
	h.waitSettled(min(n, 3))
	return h
}

// add starts a new member (the first forms the cluster).
func (h *clusterHarness) add(id string) *member {
	h.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	addr := ln.Addr().String()
	h.mu.Lock()
	m := &member{id: id, dir: h.t.TempDir(), raftAddr: addr, join: len(h.order) > 0, ln: ln}
	h.members[id] = m
	h.order = append(h.order, id)
	h.mu.Unlock()
	h.start(id)
	return m
}

func (h *clusterHarness) config(m *member) node.Config {
	cfg := node.DefaultConfig()
	cfg.NodeID = m.id
	cfg.DataDir = m.dir
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RaftAddr = m.raftAddr
	cfg.NATSURL = h.natsURL
	cfg.Shards = 4
	cfg.Clock = h.clock
	cfg.Faults = h.faults
	if m.join {
		cfg.Join = []string{h.members[h.order[0]].raftAddr}
		if h.order[0] == m.id {
			cfg.Join = []string{h.members[h.order[1]].raftAddr}
		}
	}
	cfg.ReplaceAfter = time.Hour
	c := &cfg.Cluster
	c.TickInterval = 20 * time.Millisecond
	c.TrimInterval = 10 * time.Millisecond
	c.ElectionTimeout = 300 * time.Millisecond
	c.HeartbeatInterval = 100 * time.Millisecond
	c.DownAfter = time.Second
	c.ReconcileInterval = 100 * time.Millisecond
	c.ProposeTimeout = 5 * time.Second
	level := hclog.LevelFromString(os.Getenv("STRATA_TEST_LOG")) // debugging: STRATA_TEST_LOG=debug
	if level == hclog.NoLevel {
		level = hclog.Warn
	}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: m.id, Level: level, Output: testWriter(h.t)})
	if h.tune != nil {
		h.tune(m.id, &cfg)
	}
	return cfg
}

// start (re)starts a member on its data dir and raft address.
func (h *clusterHarness) start(id string) {
	h.t.Helper()
	m := h.member(id)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cfg := h.config(m)
	// The node gets its Raft listener bound already: the port is never free
	// between picking and binding it, where another process could take it.
	cfg.RaftListener = h.raftListener(m)
	n, err := node.Start(ctx, cfg)
	if err != nil {
		_ = cfg.RaftListener.Close()
		h.t.Fatalf("start %s: %v", id, err)
	}
	h.mu.Lock()
	m.node = n
	m.join = true // later starts resume from data (or rejoin after a wipe)
	h.mu.Unlock()
}

// raftListener returns a listener on m's Raft address: the one add bound,
// or, on a restart, a new one on the same port (free again once the previous
// node closed its listener).
func (h *clusterHarness) raftListener(m *member) net.Listener {
	h.t.Helper()
	h.mu.Lock()
	ln := m.ln
	m.ln = nil
	h.mu.Unlock()
	if ln != nil {
		return ln
	}
	var err error
	eventually(h.t, "a listener on "+m.raftAddr, func() bool {
		ln, err = net.Listen("tcp", m.raftAddr)
		return err == nil
	})
	return ln
}

// stop closes a member cleanly (it hands its leaderships over first).
func (h *clusterHarness) stop(id string) {
	h.t.Helper()
	m := h.member(id)
	h.mu.Lock()
	n := m.node
	m.node = nil
	h.mu.Unlock()
	if n != nil {
		if err := n.Close(); err != nil {
			h.t.Errorf("close %s: %v", id, err)
		}
	}
}

// wipe deletes a stopped member's data.
func (h *clusterHarness) wipe(id string) {
	if err := os.RemoveAll(h.member(id).dir); err != nil {
		h.t.Fatal(err)
	}
}

func (h *clusterHarness) stopAll() {
	if h.trans != nil {
		h.trans.stop()
	}
	if h.nc != nil {
		h.nc.Close()
	}
	h.faults.Heal()
	var wg sync.WaitGroup
	for _, id := range h.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.stop(id)
		}()
	}
	wg.Wait()
}

func (h *clusterHarness) member(id string) *member {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.members[id]
	if m == nil {
		h.t.Fatalf("no member %s", id)
	}
	return m
}

// live returns copies of the running members (a member's node may be
// stopped meanwhile; its requests then fail).
func (h *clusterHarness) live() []member {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []member
	for _, id := range h.order {
		if m := h.members[id]; m.node != nil {
			out = append(out, *m)
		}
	}
	return out
}

// status asks any running member for the cluster status.
func (h *clusterHarness) status() (*cluster.Status, error) {
	var errs []error
	for _, m := range h.live() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := m.node.Cluster().Status(ctx)
		cancel()
		if err == nil {
			return st, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no status: %v", errs)
}

// settled reports whether every shard has `want` replicas, all voters, a
// leader, and every replica has applied what its leader applied.
func settled(st *cluster.Status, want int, quiet bool) error {
	if err := st.Settled(want); err != nil {
		return err
	}
	for _, g := range st.Groups {
		if quiet && len(g.Replicas) != want {
			return fmt.Errorf("shard %d: %d replicas reported", g.Shard, len(g.Replicas))
		}
		if quiet {
			for _, r := range g.Replicas {
				if r.Lag != 0 {
					return fmt.Errorf("shard %d: %s lags %d", g.Shard, r.Node, r.Lag)
				}
			}
		}
	}
	return nil
}

// waitSettled waits until the placement is fully carried out.
func (h *clusterHarness) waitSettled(want int) *cluster.Status {
	h.t.Helper()
	var last error
	var st *cluster.Status
	deadline := time.Now().Add(2 * waitFor)
	for time.Now().Before(deadline) {
		var err error
		if st, err = h.status(); err == nil {
			if last = settled(st, want, false); last == nil {
				return st
			}
		} else {
			last = err
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("cluster did not settle: %v", last)
	return nil
}

// publish sends one event and waits for JetStream's ack.
func (h *clusterHarness) publish(user string, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	_, err := h.js.Publish(ctx, cluster.EventsPrefix+user, data)
	return err
}

// httpUser reads a user through a member's HTTP API.
func httpUser(m member, user, consistency string) (cluster.UserView, int, error) {
	var v cluster.UserView
	url := "http://" + m.node.HTTPAddr() + "/v1/users/" + user
	if consistency != "" {
		url += "?consistency=" + consistency
	}
	resp, err := http.Get(url)
	if err != nil {
		return v, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			return v, resp.StatusCode, fmt.Errorf("%s", b)
		}
		return v, resp.StatusCode, nil
	}
	return v, resp.StatusCode, decodeBody(resp, &v)
}

// checkSeqs checks I3 over every transition collected so far.
func (h *clusterHarness) checkSeqs() map[userDim]cluster.TransitionMessage {
	h.t.Helper()
	h.trans.mu.Lock()
	msgs := append([]jetstream.Msg(nil), h.trans.msgs...)
	h.trans.mu.Unlock()
	return checkSeqs(h.t, msgs)
}
