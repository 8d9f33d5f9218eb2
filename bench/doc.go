// Package bench is Strata's load generator.
//
// Run starts (or targets) a Strata node, publishes a seeded synthetic
// population's events to strata.events.<user> through JetStream, waits until
// every event is applied, and reports throughput from first publish to last
// apply. It then checks what Strata counted against what was sent: the run
// fails if an event was lost or counted twice, whatever the timing.
//
// This is the single-node measurement of issue 2; the open-loop latency runs,
// side-by-side pipe ceiling and reports grow here (issue 4).
package bench
