package node_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/node"
)

func TestDefaultConfigValid(t *testing.T) {
	cfg := node.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "./strata-data" || cfg.HTTPAddr != "127.0.0.1:8080" || cfg.NATSListen != "127.0.0.1:4222" ||
		cfg.Shards != 8 || cfg.NATSURL != "" || cfg.Cluster.Limits.MaxAge != 400*24*time.Hour {
		t.Errorf("defaults differ from the documented contract: %+v", cfg)
	}
}

func TestConfigValidateQuotesBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*node.Config)
		want   string
	}{
		"shards":      {func(c *node.Config) { c.Shards = 0 }, "shards 0"},
		"node id":     {func(c *node.Config) { c.NodeID = "a b" }, `"a b"`},
		"http":        {func(c *node.Config) { c.HTTPAddr = "nonsense" }, `"nonsense"`},
		"nats listen": {func(c *node.Config) { c.NATSListen = "x" }, `"x"`},
		"log level":   {func(c *node.Config) { c.LogLevel = "loud" }, `"loud"`},
		"data dir":    {func(c *node.Config) { c.DataDir = "" }, "data dir"},
		"batch":       {func(c *node.Config) { c.Cluster.MaxBatch = 0 }, "max batch 0"},
		"tick":        {func(c *node.Config) { c.Cluster.TickInterval = 0 }, "tick interval"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := node.DefaultConfig()
			tc.mutate(&cfg)
			before := cfg
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error quoting %s", err, tc.want)
			}
			if cfg.Shards != before.Shards || cfg.NodeID != before.NodeID || cfg.HTTPAddr != before.HTTPAddr {
				t.Error("Validate changed the config")
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "strata.hcl")
	src := `
node_id       = "n7"
data_dir      = "/var/lib/strata"
http          = "0.0.0.0:9090"
shards        = 16
max_event_age = "30d12h"
tick_interval = "250ms"
log_json      = true
resident_users = 1000
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	if err := cfg.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != "n7" || cfg.DataDir != "/var/lib/strata" || cfg.HTTPAddr != "0.0.0.0:9090" || cfg.Shards != 16 ||
		cfg.Cluster.Limits.MaxAge != 30*24*time.Hour+12*time.Hour || cfg.Cluster.TickInterval != 250*time.Millisecond ||
		!cfg.LogJSON || cfg.Cluster.Actors.Capacity != 1000 {
		t.Errorf("loaded %+v", cfg)
	}
	if cfg.NATSListen != "127.0.0.1:4222" {
		t.Errorf("unset key changed: nats_listen %q", cfg.NATSListen)
	}

	for name, src := range map[string]string{
		"unknown key":  `bogus = 1`,
		"wrong type":   `shards = "many"`,
		"bad duration": `tick_interval = "soon"`,
		"syntax":       `shards = `,
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".hcl")
			if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := node.DefaultConfig()
			err := cfg.LoadFile(p)
			if err == nil {
				t.Fatal("bad file accepted")
			}
			if !strings.Contains(err.Error(), filepath.Base(p)) {
				t.Errorf("error %q does not name the file", err)
			}
			if cfg.Shards != 8 || cfg.Cluster.TickInterval != time.Second {
				t.Error("a rejected file changed the config")
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"400d": 400 * 24 * time.Hour, "7d12h": 7*24*time.Hour + 12*time.Hour, "90s": 90 * time.Second, "1h30m": 90 * time.Minute,
	} {
		if got, err := node.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "xd", "7dx", "soon"} {
		if _, err := node.ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}
