package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"

	"github.com/strata-io/strata/node"
)

func resolve(args []string) (node.Config, error) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	f := bindServeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return node.Config{}, err
	}
	return serveConfig(fs, f)
}

// Precedence: flags > STRATA_* environment > config file > defaults.
func TestServeConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "strata.hcl")
	if err := os.WriteFile(file, []byte("shards = 4\nhttp = \"127.0.0.1:7000\"\nnode_id = \"from-file\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STRATA_CONFIG", file)
	t.Setenv("STRATA_HTTP", "127.0.0.1:7100")
	t.Setenv("STRATA_NODE_ID", "from-env")
	cfg, err := resolve([]string{"--node-id", "from-flag", "--data-dir", dir})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Shards != 4 || cfg.HTTPAddr != "127.0.0.1:7100" || cfg.NodeID != "from-flag" || cfg.DataDir != dir {
		t.Errorf("shards %d (file), http %q (env), node %q (flag), data %q (flag)", cfg.Shards, cfg.HTTPAddr, cfg.NodeID, cfg.DataDir)
	}
	if cfg.NATSListen != "127.0.0.1:4222" || cfg.NATSURL != "" {
		t.Errorf("defaults: nats listen %q, nats %q", cfg.NATSListen, cfg.NATSURL)
	}

	t.Setenv("STRATA_SHARDS", "many")
	if _, err := resolve(nil); err == nil {
		t.Error("STRATA_SHARDS=many accepted")
	}
	t.Setenv("STRATA_SHARDS", "0")
	if _, err := resolve(nil); err == nil {
		t.Error("STRATA_SHARDS=0 accepted")
	}
}
