package bench

import (
	"fmt"
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// rampBounds say when a ramp stage is not sustainable.
type rampBounds struct {
	p99     time.Duration // its events' p99 latency exceeds this
	backlog time.Duration // its backlog grew by more than this much of its offered load
}

// Stage is one step of a ramp: an open-loop load at one rate. Its
// latency is that of the events due in it; its backlog counts the events
// due by its end that no replica had applied then.
type Stage struct {
	Rate             int     `json:"rate"`               // offered events/s
	Seconds          float64 `json:"seconds"`            // scheduled length
	Sent             int64   `json:"sent"`               // events due in it that were sent
	Complete         bool    `json:"complete"`           // all its events were sent (the load did not end within it)
	AppliedPerSecond float64 `json:"applied_per_second"` // events applied during it ÷ its length
	Latency          Latency `json:"latency"`
	Backlog          int64   `json:"backlog"`        // at its end
	BacklogGrowth    int64   `json:"backlog_growth"` // over it: Backlog − the previous stage's
	Sustainable      bool    `json:"sustainable"`
	Verdict          string  `json:"verdict"` // "ok", why it is not sustainable, or why it was not judged
}

// Ramp is the outcome of a step ramp.
type Ramp struct {
	Start             int     `json:"start"`                 // first stage's rate, events/s
	Step              int     `json:"step"`                  // added per stage
	StageSeconds      float64 `json:"stage_seconds"`         // each stage's length
	Max               int     `json:"max,omitempty"`         // highest rate offered at most
	P99BoundMs        float64 `json:"p99_bound_ms"`          // a stage whose p99 exceeds it is not sustainable
	BacklogBoundSec   float64 `json:"backlog_bound_seconds"` // nor one whose backlog grows by more than this much of its load
	Stages            []Stage `json:"stages"`
	SustainablePerSec int     `json:"sustainable_per_second"` // highest rate of the sustainable stages before the first that is not; 0: none
	Stop              string  `json:"stop"`                   // why the ramp ended
}

const verdictOK = "ok"

// stageStat is what the tracker knows of one stage.
type stageStat struct {
	hist      *hdrhistogram.Histogram // latencies of the events due in it
	sent      int64                   // events due in it, acknowledged
	matched   int64                   // of those, applied
	appliedIn int64                   // events applied during its window
	backlog   int64
	growth    int64
	verdict   string // "" until judged
}

// stages judges a ramp's stages as they end. Stage k is judged once every
// event due in it is acknowledged, the acks say every event applied before
// its end is counted (series), and either all its events are applied or
// its p99 bound has passed since its end. The first stage that fails stops
// the publisher (tracking.stop).
type stages struct {
	on     bool
	sched  schedule
	bounds rampBounds
	st     []*stageStat
	judged int
	cum    struct{ sent, applied int64 } // over the judged stages
	failed string                        // verdict of the stage that stopped the ramp
	stop   chan struct{}
}

func (g *stages) init(t tracking) {
	g.on, g.sched, g.bounds, g.stop = t.sched.isRamp(), t.sched, t.ramp, t.stop
}

func (g *stages) stat(k int) *stageStat {
	for len(g.st) <= k {
		g.st = append(g.st, &stageStat{hist: newHistogram()})
	}
	return g.st[k]
}

func (g *stages) acked(a acked) {
	if g.on {
		g.stat(g.sched.stageAt(a.due)).sent++
	}
}

func (g *stages) applied(a acked, at, d time.Duration) {
	if !g.on {
		return
	}
	s := g.stat(g.sched.stageAt(a.due))
	s.matched++
	record(s.hist, d)
	if k := g.sched.stageAt(at); k < g.sched.stages() { // not after the last stage
		g.stat(k).appliedIn++
	}
}

// tick judges the stages that can be judged at `at`.
func (g *stages) tick(r *recorder, at time.Duration) {
	for g.on && g.failed == "" && g.judged < g.sched.stages() {
		k := g.judged
		end := g.sched.stageEnd(k)
		if at < end || !(r.acksDone || r.dueBy >= end) || !(r.acksDone || r.sentBy >= end) {
			return
		}
		if r.acksDone && k >= len(g.st) { // no event was due in it
			return
		}
		s := g.stat(k)
		if s.matched < s.sent && at < end+g.bounds.p99 {
			return
		}
		g.judge(k, s)
		if s.verdict != verdictOK && g.complete(k) {
			g.failed = s.verdict
			close(g.stop)
		}
		if !g.complete(k) { // the load ended within it: nothing after it to judge
			return
		}
	}
}

func (g *stages) complete(k int) bool {
	return k < len(g.st) && g.st[k].sent == g.sched.first(k+1)-g.sched.first(k)
}

// judge sets stage k's backlog and verdict (every earlier stage is judged).
func (g *stages) judge(k int, s *stageStat) {
	g.cum.sent += s.sent
	g.cum.applied += s.appliedIn
	s.backlog = g.cum.sent - g.cum.applied
	prev := int64(0)
	if k > 0 {
		prev = g.st[k-1].backlog
	}
	s.growth = s.backlog - prev
	g.judged++
	rate := g.sched.stageRate(k)
	bound := max(int64(float64(rate)*g.bounds.backlog.Seconds()), 1)
	s.verdict = verdictOK
	if rank := int64(math.Ceil(0.99 * float64(s.sent))); s.matched < rank {
		s.verdict = fmt.Sprintf("p99 over %v: %d of %d events not applied %v after the stage", g.bounds.p99, s.sent-s.matched, s.sent, g.bounds.p99)
	} else if p99 := time.Duration(s.hist.ValueAtPercentile(100*float64(rank)/float64(s.matched))) * time.Microsecond; p99 > g.bounds.p99 {
		s.verdict = fmt.Sprintf("p99 %v over %v", p99.Round(10*time.Microsecond), g.bounds.p99)
	} else if s.growth > bound {
		s.verdict = fmt.Sprintf("backlog grew by %d events, over %d (%v of the offered load)", s.growth, bound, g.bounds.backlog)
	}
}

// report returns the stages, the sustainable rate and why the ramp ended.
func (g *stages) report(r *recorder) ([]Stage, int, string) {
	var out []Stage
	sustained, ok := 0, true
	for k, s := range g.st {
		if s.sent == 0 { // after the load stopped: nothing was due in it
			break
		}
		st := Stage{Rate: g.sched.stageRate(k), Seconds: g.sched.stage.Seconds(), Sent: s.sent, Complete: g.complete(k),
			Latency: histLatency(s.hist, sourceStage), Backlog: s.backlog, BacklogGrowth: s.growth, Verdict: s.verdict}
		window := g.sched.stage
		if end := g.sched.stageEnd(k); r.lastAt < end {
			window = max(r.lastAt-(end-g.sched.stage), time.Millisecond)
		}
		st.AppliedPerSecond = float64(s.appliedIn) / window.Seconds()
		switch {
		case st.Verdict == verdictOK && !st.Complete:
			st.Verdict = "ok so far, but the load ended within it"
		case st.Verdict == "" && !st.Complete:
			st.Verdict = "not judged: the load ended within it"
		case st.Verdict == "":
			st.Verdict = "not judged: the ramp stopped before"
		}
		st.Sustainable = st.Complete && st.Verdict == verdictOK
		if ok = ok && st.Sustainable; ok {
			sustained = st.Rate
		}
		out = append(out, st)
	}
	stop := "the events ran out (raise --events): the sustainable rate is at least this"
	switch last := len(out) - 1; {
	case g.failed != "":
		stop = "not sustainable: " + g.failed
	case last >= 0 && last == g.sched.stages()-1 && g.complete(last):
		stop = "reached the highest rate offered (--ramp-max): the sustainable rate is at least this"
	}
	return out, sustained, stop
}

const sourceStage = "scheduled send → applied by a replica of its shard, events due in the stage"
