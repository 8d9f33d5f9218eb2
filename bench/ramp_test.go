package bench

import (
	"strings"
	"testing"
	"time"
)

// simulateRamp drives a recorder through a ramp against a server that
// applies each event 5 ms after it is due, at most `capacity` events/s
// (FIFO), publishing on schedule until the tracker says stop.
func simulateRamp(t *testing.T, sched schedule, capacity float64, until time.Duration) *recorder {
	t.Helper()
	r, cur, count := testRecorder(1, sched)
	var sent int64
	applied := 0.0 // events applied so far (fractional: capacity per ms)
	stopped := false
	for at := ms1; at <= until; at += ms1 {
		select {
		case <-r.t.stop:
			stopped = true
		default:
		}
		var b ackBatch
		for ; !stopped && sent < sched.total() && sched.due(sent) < at; sent++ {
			b.acks = append(b.acks, acked{seq: uint64(sent + 1), due: sched.due(sent)})
		}
		if len(b.acks) > 0 {
			b.sentBy = at
			if err := r.ack(b); err != nil {
				t.Fatal(err)
			}
			count.Store(sent)
		}
		applied = min(applied+capacity/1000, float64(sched.dueBy(at-5*ms1)), float64(sent))
		cur[0] = uint64(applied)
		r.poll(at)
		r.series.tick(r, at)
		r.stages.tick(r, at)
	}
	r.acksDone = true
	r.stages.tick(r, until)
	return r
}

func TestRampStopsAtTheFirstUnsustainableStage(t *testing.T) {
	sched := ramp(1000, 1000, time.Second, 4000)
	r := simulateRamp(t, sched, 1500, 5*time.Second)
	select {
	case <-r.t.stop:
	default:
		t.Fatal("the tracker did not stop the publisher")
	}
	stages, sustained, stop := r.stages.report(r)
	if sustained != 1000 {
		t.Fatalf("sustainable %d events/s, want 1000 (the server applies 1500/s)", sustained)
	}
	if len(stages) < 2 || stages[0].Verdict != verdictOK || stages[1].Sustainable || !strings.HasPrefix(stop, "not sustainable") {
		t.Fatalf("stages %+v, stop %q: want the 1000/s stage ok, the 2000/s one not", stages, stop)
	}
	if stages[1].Backlog <= 0 || stages[1].Latency.P99 < 100 {
		t.Fatalf("2000/s stage: backlog %d, p99 %.1f ms; want a growing backlog and p99 over 100 ms", stages[1].Backlog, stages[1].Latency.P99)
	}
}

func TestRampReachesItsMax(t *testing.T) {
	sched := ramp(500, 500, time.Second, 1500)
	r := simulateRamp(t, sched, 1e9, 4*time.Second)
	stages, sustained, stop := r.stages.report(r)
	if sustained != 1500 || len(stages) != 3 || !strings.HasPrefix(stop, "reached the highest rate") {
		t.Fatalf("sustainable %d, %d stages, stop %q: want 1500, 3, reached the highest rate", sustained, len(stages), stop)
	}
	for _, st := range stages {
		if !st.Complete || !st.Sustainable || st.Sent != int64(st.Rate) || st.Latency.P50 < 4 || st.Latency.P50 > 7 {
			t.Fatalf("stage %+v: want complete, sustainable, rate × 1 s events, p50 ≈ 5 ms", st)
		}
	}
}
