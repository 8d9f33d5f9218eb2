// Package node is one Strata process: configuration, lifecycle and the APIs.
//
// Start validates a Config, starts an embedded NATS server with JetStream when
// no external URL is given (its store under DataDir/nats, fsync every
// NATSSyncInterval or on every write with NATSSyncAlways), opens Pebble under
// DataDir/pebble, creates the streams and opens every shard (package cluster),
// then serves:
//
//   - HTTP on HTTPAddr: GET /v1/users/{user}, GET /v1/tiers, GET /healthz,
//     GET /readyz (ready once every shard has a leader that ingests),
//     GET /metrics (Prometheus).
//   - NATS request-reply: the micro service "strata", endpoint subject
//     strata.api.user.get with body {"user":"u42"}.
//
// Close shuts down in reverse order. Configuration comes from defaults, an HCL
// file (Config.LoadFile), STRATA_* environment variables and flags, in
// increasing precedence (see cmd/strata).
package node
