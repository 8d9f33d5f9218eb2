// Package bench is Strata's load generator.
//
// Run starts Strata inside this process — one node with embedded NATS, or
// Config.Nodes nodes forming a cluster on one shared nats-server — and waits
// until every shard has its replicas and its preferred leader. Before that,
// unless Config.Ceiling is off, it measures the pipe ceiling: the same events
// through the same NATS/JetStream setup to bare consumers. It then publishes a
// seeded, realistic population's events (population.go: Zipf activity,
// lifecycle cohorts, log-normal orders with whales, refunds, coupon-farming
// bursts, in time order) to strata.events.<user>
// through JetStream, either as fast as the publisher's window allows or open
// loop at Config.Rate events/s, and waits until every replica applied every
// event. Progress is read from each replica's cursor (the last STRATA_EVENTS
// sequence its state machine applied), polled every millisecond, against the
// sequence JetStream acknowledged for each event: this gives exact completion
// times and a latency for every event, from its scheduled send to the first
// replica that applied it.
//
// The Report holds throughput (publish, applied, replicated), the per-event
// latency quantiles, the same quantiles estimated from the nodes' Prometheus
// histogram strata_event_applied_seconds as a cross-check, peak RSS and disk
// use. Run then checks what Strata counted against what was sent: it fails
// if an event was lost or counted twice, whatever the timing.
//
// DESIGN.md explains the completion criterion, the latency measurement, the
// ceiling and the population.
package bench
