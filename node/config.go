package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2/hclsimple"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/scoring"
)

// Config is one Strata process. Flags, the HCL config file and STRATA_*
// environment variables all set these fields (flags win over the environment,
// the environment over the file, the file over the defaults).
type Config struct {
	NodeID     string // --node-id, node_id: Raft ID of this node; default "strata-1"
	DataDir    string // --data-dir, data_dir: Pebble, snapshots, embedded NATS store; default ./strata-data
	HTTPAddr   string // --http, http: HTTP API listen address; default 127.0.0.1:8080
	NATSURL    string // --nats, nats: external NATS URL; empty starts the embedded server
	NATSListen string // --nats-listen, nats_listen: embedded server address; default 127.0.0.1:4222
	Shards     int    // --shards, shards: number of shards; default 8

	// Cluster membership (issue 3).
	RaftAddr     string        // --raft-addr, raft_addr: Raft/cluster listener (all groups); default 127.0.0.1:7400
	Advertise    string        // --advertise, advertise: address other nodes dial; default the bound raft address
	Join         []string      // --join, join: members to join through; empty forms a new cluster or resumes
	Replicas     int           // --replicas, replicas: replication factor R; default 3
	ReplaceAfter time.Duration // --replace-after, replace_after: down time before a node's replicas are re-created; default 5m
	TLSCert      string        // --tls-cert, tls_cert: node certificate (PEM) for mutual TLS between nodes
	TLSKey       string        // --tls-key, tls_key: its private key
	TLSCA        string        // --tls-ca, tls_ca: CA bundle that signs every node's certificate

	// Embedded NATS JetStream durability (RELIABILITY trap 8): by default the
	// file store is fsynced every NATSSyncInterval; NATSSyncAlways syncs every write.
	NATSSyncInterval time.Duration // nats_sync_interval; default 1s
	NATSSyncAlways   bool          // nats_sync_always; default false

	CacheBytes int64  // cache_bytes: Pebble block cache; default 256 MiB
	LogLevel   string // --log-level, log_level: trace|debug|info|warn|error; default info
	LogJSON    bool   // --log-json, log_json: JSON log lines; default false
	Pprof      bool   // --pprof, pprof: serve Go's profiler at /debug/pprof/ on the HTTP listener; default false

	// ModelFile (--model, model) is a tier model file (HCL, docs/model.md)
	// the cluster should run; empty keeps the cluster's model (the built-in
	// default@v1 until one is loaded). At start the node makes it the
	// cluster's active model unless that model is already active or newer;
	// ModelMode (--model-mode, model_mode) says how users move to it:
	// "emit" (default: their tier changes are published, cause "model") or
	// "rebaseline" (silently).
	ModelFile string
	ModelMode string

	Cluster cluster.Config // shard tuning (the fields above override NodeID, DataDir, Shards)
	Model   scoring.Params // parameters of the built-in model default@v1

	Clock cluster.Clock // nil: wall clock (tests inject clocktest.Clock)
	// RaftListener, if set, replaces listening on RaftAddr (tests: a port
	// kept across restarts). Faults injects transport faults (tests).
	RaftListener net.Listener
	Faults       *cluster.Faults
	Logger       hclog.Logger // nil: built from LogLevel/LogJSON on stderr
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		NodeID: "strata-1", DataDir: "./strata-data", HTTPAddr: "127.0.0.1:8080",
		NATSListen: "127.0.0.1:4222", Shards: 8, NATSSyncInterval: time.Second,
		RaftAddr: "127.0.0.1:7400", Replicas: 3, ReplaceAfter: 5 * time.Minute,
		CacheBytes: 256 << 20, LogLevel: "info", ModelMode: cluster.ModeEmit,
		Cluster: cluster.DefaultConfig(), Model: scoring.DefaultParams(),
	}
}

// Validate reports the first bad field, quoting it; it never changes c.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "" || strings.ContainsAny(c.NodeID, " \t\n/"):
		return fmt.Errorf("node: node id %q: want a non-empty name without spaces or '/'", c.NodeID)
	case c.DataDir == "":
		return errors.New("node: data dir is empty")
	case c.Shards < 1 || c.Shards > 4096:
		return fmt.Errorf("node: shards %d: want 1..4096", c.Shards)
	case c.CacheBytes < 1<<20:
		return fmt.Errorf("node: cache bytes %d: want ≥ 1 MiB", c.CacheBytes)
	case hclog.LevelFromString(c.LogLevel) == hclog.NoLevel:
		return fmt.Errorf("node: log level %q: want trace, debug, info, warn or error", c.LogLevel)
	case !c.NATSSyncAlways && c.NATSSyncInterval <= 0:
		return fmt.Errorf("node: nats sync interval %s: want > 0", c.NATSSyncInterval)
	case c.ModelMode != cluster.ModeEmit && c.ModelMode != cluster.ModeRebaseline:
		return fmt.Errorf("node: model mode %q: want %s or %s", c.ModelMode, cluster.ModeEmit, cluster.ModeRebaseline)
	case (c.TLSCert == "") != (c.TLSKey == "") || (c.TLSCert == "") != (c.TLSCA == ""):
		return errors.New("node: mutual TLS needs all of tls cert, tls key and tls ca")
	}
	if _, _, err := net.SplitHostPort(c.RaftAddr); err != nil {
		return fmt.Errorf("node: raft address %q: %w", c.RaftAddr, err)
	}
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			return fmt.Errorf("node: join address %q: %w", j, err)
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("node: http address %q: %w", c.HTTPAddr, err)
	}
	if c.NATSURL == "" {
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			return fmt.Errorf("node: nats listen address %q: %w", c.NATSListen, err)
		}
	}
	cc := c.clusterConfig()
	if err := cc.Validate(); err != nil {
		return err
	}
	if _, err := scoring.NewModel(c.Model); err != nil {
		return err
	}
	return nil
}

func (c *Config) clusterConfig() cluster.Config {
	cc := c.Cluster
	cc.NodeID, cc.DataDir, cc.Shards = c.NodeID, c.DataDir, c.Shards
	cc.RaftAddr, cc.Advertise, cc.Join, cc.Replicas = c.RaftAddr, c.Advertise, c.Join, c.Replicas
	cc.ReplaceAfter = c.ReplaceAfter
	return cc
}

// fileConfig is the HCL config file: every attribute optional.
type fileConfig struct {
	NodeID           *string `hcl:"node_id,optional"`
	DataDir          *string `hcl:"data_dir,optional"`
	HTTP             *string `hcl:"http,optional"`
	NATS             *string `hcl:"nats,optional"`
	NATSListen       *string `hcl:"nats_listen,optional"`
	Shards           *int    `hcl:"shards,optional"`
	NATSSyncInterval *string `hcl:"nats_sync_interval,optional"`
	NATSSyncAlways   *bool   `hcl:"nats_sync_always,optional"`
	CacheBytes       *int64  `hcl:"cache_bytes,optional"`
	LogLevel         *string `hcl:"log_level,optional"`
	LogJSON          *bool   `hcl:"log_json,optional"`
	Pprof            *bool   `hcl:"pprof,optional"`
	Model            *string `hcl:"model,optional"`
	ModelMode        *string `hcl:"model_mode,optional"`
	History          *int    `hcl:"history,optional"`
	SweepBatch       *int    `hcl:"sweep_batch,optional"`
	SweepInterval    *string `hcl:"sweep_interval,optional"`
	RFMInterval      *string `hcl:"rfm_interval,optional"`

	RaftAddr     *string  `hcl:"raft_addr,optional"`
	Advertise    *string  `hcl:"advertise,optional"`
	Join         []string `hcl:"join,optional"`
	Replicas     *int     `hcl:"replicas,optional"`
	ReplaceAfter *string  `hcl:"replace_after,optional"`
	TLSCert      *string  `hcl:"tls_cert,optional"`
	TLSKey       *string  `hcl:"tls_key,optional"`
	TLSCA        *string  `hcl:"tls_ca,optional"`

	TickInterval               *string `hcl:"tick_interval,optional"`
	MaxBatch                   *int    `hcl:"max_batch,optional"`
	MaxTimersPerTick           *int    `hcl:"max_timers_per_tick,optional"`
	DedupeWindow               *string `hcl:"dedupe_window,optional"`
	EventsMaxAge               *string `hcl:"events_max_age,optional"`
	TransitionsDuplicateWindow *string `hcl:"transitions_duplicate_window,optional"`
	MaxEventAge                *string `hcl:"max_event_age,optional"`
	ResidentUsers              *int    `hcl:"resident_users,optional"`
}

// LoadFile applies an HCL config file over c. A bad file is an error quoting
// file:line:column; c is unchanged then.
func (c *Config) LoadFile(path string) error {
	var f fileConfig
	if err := hclsimple.DecodeFile(path, nil, &f); err != nil {
		return fmt.Errorf("node: config: %w", err)
	}
	next := *c
	setS := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setS(&next.NodeID, f.NodeID)
	setS(&next.DataDir, f.DataDir)
	setS(&next.HTTPAddr, f.HTTP)
	setS(&next.NATSURL, f.NATS)
	setS(&next.NATSListen, f.NATSListen)
	setS(&next.LogLevel, f.LogLevel)
	setS(&next.RaftAddr, f.RaftAddr)
	setS(&next.Advertise, f.Advertise)
	setS(&next.TLSCert, f.TLSCert)
	setS(&next.TLSKey, f.TLSKey)
	setS(&next.TLSCA, f.TLSCA)
	setS(&next.ModelFile, f.Model)
	setS(&next.ModelMode, f.ModelMode)
	if f.History != nil {
		next.Cluster.History = *f.History
	}
	if f.SweepBatch != nil {
		next.Cluster.SweepBatch = *f.SweepBatch
	}
	if f.Join != nil {
		next.Join = f.Join
	}
	if f.Replicas != nil {
		next.Replicas = *f.Replicas
	}
	if f.Shards != nil {
		next.Shards = *f.Shards
	}
	if f.NATSSyncAlways != nil {
		next.NATSSyncAlways = *f.NATSSyncAlways
	}
	if f.CacheBytes != nil {
		next.CacheBytes = *f.CacheBytes
	}
	if f.LogJSON != nil {
		next.LogJSON = *f.LogJSON
	}
	if f.Pprof != nil {
		next.Pprof = *f.Pprof
	}
	if f.MaxBatch != nil {
		next.Cluster.MaxBatch = *f.MaxBatch
	}
	if f.MaxTimersPerTick != nil {
		next.Cluster.MaxTimersPerTick = *f.MaxTimersPerTick
	}
	if f.ResidentUsers != nil {
		next.Cluster.Actors.Capacity = *f.ResidentUsers
	}
	durations := []struct {
		name string
		v    *string
		dst  *time.Duration
	}{
		{"nats_sync_interval", f.NATSSyncInterval, &next.NATSSyncInterval},
		{"replace_after", f.ReplaceAfter, &next.ReplaceAfter},
		{"tick_interval", f.TickInterval, &next.Cluster.TickInterval},
		{"dedupe_window", f.DedupeWindow, &next.Cluster.DedupeWindow},
		{"events_max_age", f.EventsMaxAge, &next.Cluster.EventsMaxAge},
		{"transitions_duplicate_window", f.TransitionsDuplicateWindow, &next.Cluster.TransitionsDuplicateWindow},
		{"max_event_age", f.MaxEventAge, &next.Cluster.Limits.MaxAge},
		{"sweep_interval", f.SweepInterval, &next.Cluster.SweepInterval},
		{"rfm_interval", f.RFMInterval, &next.Cluster.RFMInterval},
	}
	for _, d := range durations {
		if d.v == nil {
			continue
		}
		v, err := ParseDuration(*d.v)
		if err != nil {
			return fmt.Errorf("node: config %s: %s = %q: %w", path, d.name, *d.v, err)
		}
		*d.dst = v
	}
	*c = next
	return nil
}

// ParseDuration is time.ParseDuration plus a "d" (24h) unit, e.g. "400d", "7d12h".
func ParseDuration(s string) (time.Duration, error) {
	if i := strings.IndexByte(s, 'd'); i > 0 {
		days, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		var rest time.Duration
		if s[i+1:] != "" {
			if rest, err = time.ParseDuration(s[i+1:]); err != nil {
				return 0, err
			}
		}
		return time.Duration(days)*24*time.Hour + rest, nil
	}
	return time.ParseDuration(s)
}

// Env lists the STRATA_* environment variables and the flag each stands for.
var Env = map[string]string{
	"STRATA_CONFIG":        "config",
	"STRATA_NODE_ID":       "node-id",
	"STRATA_DATA_DIR":      "data-dir",
	"STRATA_HTTP":          "http",
	"STRATA_NATS":          "nats",
	"STRATA_NATS_LISTEN":   "nats-listen",
	"STRATA_SHARDS":        "shards",
	"STRATA_LOG_LEVEL":     "log-level",
	"STRATA_LOG_JSON":      "log-json",
	"STRATA_PPROF":         "pprof",
	"STRATA_RAFT_ADDR":     "raft-addr",
	"STRATA_ADVERTISE":     "advertise",
	"STRATA_JOIN":          "join",
	"STRATA_REPLICAS":      "replicas",
	"STRATA_REPLACE_AFTER": "replace-after",
	"STRATA_TLS_CERT":      "tls-cert",
	"STRATA_TLS_KEY":       "tls-key",
	"STRATA_TLS_CA":        "tls-ca",
	"STRATA_MODEL":         "model",
	"STRATA_MODEL_MODE":    "model-mode",
}

// LookupEnv returns the value of a STRATA_* variable for a flag name.
func LookupEnv(flag string) (string, bool) {
	for env, f := range Env {
		if f == flag {
			return os.LookupEnv(env)
		}
	}
	return "", false
}
