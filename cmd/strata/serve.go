package main

import (
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/strata-io/strata/node"
)

// serveFlags are bound to flags; only flags that were set (or came from
// STRATA_* variables) override the config file and the defaults.
type serveFlags struct {
	config, nodeID, dataDir, http, nats, natsListen, logLevel string
	shards                                                    int
	logJSON                                                   bool
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
	fs.StringVar(&f.logLevel, "log-level", "", "trace, debug, info, warn or error (default info)")
	fs.BoolVar(&f.logJSON, "log-json", false, "log JSON lines")
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
	return cfg, cfg.Validate()
}
