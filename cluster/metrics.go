package cluster

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus series of the cluster layer. One Metrics serves
// every shard of a node; shard-level series carry a "shard" label.
type Metrics struct {
	EventsApplied      prometheus.Counter
	EventsDuplicate    prometheus.Counter
	EventsDeadLettered *prometheus.CounterVec // reason
	Transitions        *prometheus.CounterVec // dimension: appended to the outbox on apply
	Published          *prometheus.CounterVec // dimension: acknowledged by STRATA_TRANSITIONS
	TimersFired        prometheus.Counter
	ApplySeconds       prometheus.Histogram // FSM time per Raft entry
	EventApplied       prometheus.Histogram // JetStream stored → applied on the leader
	EventToTransition  prometheus.Histogram // JetStream stored → transition acknowledged
	TimerLag           prometheus.Histogram // due → fired
	ProposeSeconds     prometheus.Histogram // Raft Apply future latency on the leader
	BatchEvents        prometheus.Histogram // events per ingest entry
	AppliedIndex       *prometheus.GaugeVec // shard
	Cursor             *prometheus.GaugeVec // shard: last STRATA_EVENTS sequence applied
	Leader             *prometheus.GaugeVec // shard: 1 when this node leads it
	OutboxBacklog      *prometheus.GaugeVec // shard: records not yet trimmed
	SnapshotRestores   prometheus.Counter   // FSM state replaced by a snapshot (install or lost state)
}

// NewMetrics creates the series and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	latency := []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10, 30}
	m := &Metrics{
		EventsApplied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_events_applied_total", Help: "Distinct events folded into user state."}),
		EventsDuplicate: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_events_duplicate_total", Help: "Events ignored because their ID was already applied for the user."}),
		EventsDeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_events_dead_lettered_total", Help: "Invalid events sent to STRATA_DLQ, by reason."}, []string{"reason"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_transitions_total", Help: "Tier transitions derived by the FSM, by dimension."}, []string{"dimension"}),
		Published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_transitions_published_total", Help: "Tier transitions acknowledged by STRATA_TRANSITIONS, by dimension."}, []string{"dimension"}),
		TimersFired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_timers_fired_total", Help: "Durable user timers fired by ticks."}),
		ApplySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strata_apply_seconds", Help: "FSM apply time per Raft entry.", Buckets: latency}),
		EventApplied: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strata_event_applied_seconds", Help: "From JetStream storing an event to its entry being applied (leader).", Buckets: latency}),
		EventToTransition: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strata_event_to_transition_seconds", Help: "From JetStream storing an event to its transition being acknowledged by STRATA_TRANSITIONS.", Buckets: latency}),
		TimerLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strata_timer_lag_seconds", Help: "From a timer's exact deadline to the tick that fired it.", Buckets: latency}),
		ProposeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strata_raft_propose_seconds", Help: "Raft Apply latency of a proposal on the leader.", Buckets: latency}),
		BatchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strata_ingest_batch_events", Help: "Events per ingest Raft entry.", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		AppliedIndex: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_raft_applied_index", Help: "Last Raft index applied by the shard's FSM."}, []string{"shard"}),
		Cursor: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_shard_cursor", Help: "Last STRATA_EVENTS sequence applied by the shard's FSM on this node."}, []string{"shard"}),
		Leader: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_raft_leader", Help: "1 when this node leads the shard."}, []string{"shard"}),
		OutboxBacklog: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_outbox_backlog", Help: "Transitions in the shard's outbox not yet trimmed."}, []string{"shard"}),
		SnapshotRestores: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_snapshot_restores_total", Help: "Shard states replaced by a Raft snapshot (installed from the leader, or restored after local state loss)."}),
	}
	if reg != nil {
		reg.MustRegister(m.EventsApplied, m.EventsDuplicate, m.EventsDeadLettered, m.Transitions, m.Published,
			m.TimersFired, m.ApplySeconds, m.EventApplied, m.EventToTransition, m.TimerLag, m.ProposeSeconds,
			m.BatchEvents, m.AppliedIndex, m.Cursor, m.Leader, m.OutboxBacklog, m.SnapshotRestores)
	}
	return m
}
