package main

import (
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/strata-io/strata/node"
)

// serveFlags are bound to flags; only flags that were set (or came from
// STRATA_* variables) override the config file and the defaults.
type serveFlags struct {
	config, nodeID, dataDir, http, nats, natsListen, logLevel string
	raftAddr, advertise, tlsCert, tlsKey, tlsCA               string
	model, modelMode                                          string
	join                                                      []string
	replaceAfter                                              time.Duration
	shards, replicas                                          int
	logJSON, pprof                                            bool
}

func serveCmd() *cobra.Command {
	var f *serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Strata node (embedded NATS with JetStream unless --nats is given)",
		Long: `Run a Strata node. Settings come from, in increasing precedence: defaults, the HCL
file given by --config, STRATA_* environment variables, flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := serveConfig(cmd.Flags(), f)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			n, err := node.Start(ctx, cfg)
			if err != nil {
				return err
			}
			<-ctx.Done()
			return n.Close()
		},
	}
	f = bindServeFlags(cmd.Flags())
	return cmd
}

// bindServeFlags registers serve's flags on fs.
func bindServeFlags(fs *pflag.FlagSet) *serveFlags {
	f := &serveFlags{}
	fs.StringVar(&f.config, "config", "", "HCL config file")
	fs.StringVar(&f.nodeID, "node-id", "", "node ID (default strata-1)")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory (default ./strata-data)")
	fs.StringVar(&f.http, "http", "", "HTTP API listen address (default 127.0.0.1:8080)")
	fs.StringVar(&f.nats, "nats", "", "URL of an external NATS server; empty starts the embedded one")
	fs.StringVar(&f.natsListen, "nats-listen", "", "embedded NATS listen address (default 127.0.0.1:4222)")
	fs.IntVar(&f.shards, "shards", 0, "number of shards (default 8; fixed once data exists)")
	fs.StringVar(&f.raftAddr, "raft-addr", "", "Raft/cluster listen address shared by all Raft groups (default 127.0.0.1:7400)")
	fs.StringVar(&f.advertise, "advertise", "", "address other nodes dial to reach this one (default the bound --raft-addr)")
	fs.StringSliceVar(&f.join, "join", nil, "raft address of any member to join (repeat or comma-separate); omit to form a new cluster")
	fs.IntVar(&f.replicas, "replicas", 0, "replicas per shard (default 3; fewer while the cluster is smaller; fixed at formation)")
	fs.DurationVar(&f.replaceAfter, "replace-after", 0, "re-create a down node's replicas elsewhere after this long (default 5m)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "node certificate (PEM) for mutual TLS between nodes; identity = URI SAN strata://node/<id> or CN")
	fs.StringVar(&f.tlsKey, "tls-key", "", "private key of --tls-cert")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "CA certificates (PEM) that sign every node's certificate")
	fs.StringVar(&f.logLevel, "log-level", "", "trace, debug, info, warn or error (default info)")
	fs.BoolVar(&f.logJSON, "log-json", false, "log JSON lines")
	fs.StringVar(&f.model, "model", "", "tier model file (HCL, see docs/model.md) the cluster should run; empty keeps the cluster's model")
	fs.StringVar(&f.modelMode, "model-mode", "", "how users move to --model's model: emit (publish their tier changes; default) or rebaseline")
	fs.BoolVar(&f.pprof, "pprof", false, "serve Go's profiler at /debug/pprof/ on the HTTP listener (CPU, heap, goroutines, trace)")
	return f
}

func serveConfig(fs *pflag.FlagSet, f *serveFlags) (node.Config, error) {
	for env, name := range node.Env {
		if v, ok := node.LookupEnv(name); ok && !fs.Changed(name) {
			if err := fs.Set(name, v); err != nil {
				return node.Config{}, fmt.Errorf("%s=%q: %w", env, v, err)
			}
		}
	}
	cfg := node.DefaultConfig()
	if f.config != "" {
		if err := cfg.LoadFile(f.config); err != nil {
			return cfg, err
		}
	}
	set := func(name string, apply func()) {
		if fs.Changed(name) {
			apply()
		}
	}
	set("node-id", func() { cfg.NodeID = f.nodeID })
	set("data-dir", func() { cfg.DataDir = f.dataDir })
	set("http", func() { cfg.HTTPAddr = f.http })
	set("nats", func() { cfg.NATSURL = f.nats })
	set("nats-listen", func() { cfg.NATSListen = f.natsListen })
	set("shards", func() { cfg.Shards = f.shards })
	set("log-level", func() { cfg.LogLevel = f.logLevel })
	set("log-json", func() { cfg.LogJSON = f.logJSON })
	set("pprof", func() { cfg.Pprof = f.pprof })
	set("raft-addr", func() { cfg.RaftAddr = f.raftAddr })
	set("advertise", func() { cfg.Advertise = f.advertise })
	set("join", func() { cfg.Join = f.join })
	set("replicas", func() { cfg.Replicas = f.replicas })
	set("replace-after", func() { cfg.ReplaceAfter = f.replaceAfter })
	set("tls-cert", func() { cfg.TLSCert = f.tlsCert })
	set("tls-key", func() { cfg.TLSKey = f.tlsKey })
	set("tls-ca", func() { cfg.TLSCA = f.tlsCA })
	set("model", func() { cfg.ModelFile = f.model })
	set("model-mode", func() { cfg.ModelMode = f.modelMode })
	return cfg, cfg.Validate()
}
