// Package bench is Strata's load generator.
//
// Run starts Strata inside this process — one node with embedded NATS, or
// Config.Nodes nodes forming a cluster on one shared nats-server — and waits
// until every shard has its replicas and its preferred leader; or, with
// Config.Target, it benchmarks a node or cluster already running (target.go).
// Before that, unless Config.Ceiling is off, it measures the pipe ceiling: the
// same events through the same NATS/JetStream setup to bare consumers
// (ceiling.go).
//
// Each measured phase (runLoad, load.go) streams a seeded, realistic
// population's events from a Generator (population.go: Zipf activity,
// lifecycle cohorts, log-normal orders with whales, refunds, coupon-farming
// bursts, in time order) to strata.events.<user> through JetStream
// (publish.go), on a schedule (schedule.go): unpaced, open loop at
// Config.Rate, or a step ramp of rising rates (ramp.go) that stops at the
// first stage that is not sustainable. Nothing per event is kept beyond the
// publisher's window and the backlog: the tracker (tracker.go) reads every
// replica's cursor (the last STRATA_EVENTS sequence its state machine
// applied) every millisecond — or every node's strata_shard_cursor gauge over
// HTTP for a running target (scrape.go) — matches it against the sequences
// JetStream acknowledged, and folds each event's latency, from its scheduled
// send to the first poll that saw it applied, into HdrHistogram
// (histogram.go) as it goes. It also builds the phase's time series
// (series.go: published, applied, backlog, latency, RSS and CPU per
// interval) and reports live Progress. A core NATS subscription times
// publish → transition received for transitions caused by the run's events
// (transitions.go).
//
// The Report holds throughput, the latency quantiles and percentile curve,
// the series, the ramp's stages and sustainable rate, the nodes' Prometheus
// histogram strata_event_applied_seconds as a cross-check, peak RSS per phase
// and disk use. Run then checks what Strata counted against what was sent: it
// fails if an event was lost or counted twice, whatever the timing.
// WriteReports renders a Report as JSON, Markdown and a self-contained HTML
// page with inline SVG charts (report*.go, svg.go); ProgressLine prints
// Progress on a terminal or a log.
//
// DESIGN.md explains the completion criterion, the latency measurement, the
// streaming, the series, the ramp, running targets, the ceiling and the
// population.
package bench
