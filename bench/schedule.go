package bench

import (
	"math"
	"sort"
	"time"
)

// schedule says when each event is due, counted from the phase's epoch:
// never (unpaced: each event leaves as soon as the publisher's window
// allows, and its send is its due time), at a constant rate, or in a step
// ramp of stages of equal length whose rates grow by a fixed step. It is a
// pure function of the event index, so the ceiling and Strata phases, the
// tracker and the transitions' latency all agree on it.
type schedule struct {
	rate  int           // constant rate in events/s; with stage == 0, 0 is unpaced
	step  int           // ramp: stage k offers rate + k·step events/s
	stage time.Duration // ramp: length of each stage; 0: not a ramp
	max   int           // ramp: no stage offers more than this (0: no bound)
}

// constant returns the schedule of Config.Rate (0: unpaced).
func constant(rate int) schedule { return schedule{rate: rate} }

// ramp returns the step ramp start, start+step, … events/s, each for
// stage, up to max events/s (0: until the events or the load run out).
func ramp(start, step int, stage time.Duration, max int) schedule {
	return schedule{rate: start, step: step, stage: stage, max: max}
}

func (s schedule) paced() bool  { return s.rate > 0 }
func (s schedule) isRamp() bool { return s.stage > 0 }

// stages is how many stages the ramp has (math.MaxInt without max; 1 for a
// constant rate or unpaced).
func (s schedule) stages() int {
	switch {
	case !s.isRamp():
		return 1
	case s.max == 0 || s.step == 0:
		return math.MaxInt
	}
	return (s.max-s.rate)/s.step + 1
}

// stageRate is the offered rate of stage k.
func (s schedule) stageRate(k int) int { return s.rate + k*s.step }

// stageEnd is when stage k ends (math.MaxInt64 outside a ramp).
func (s schedule) stageEnd(k int) time.Duration {
	if !s.isRamp() {
		return math.MaxInt64
	}
	return time.Duration(k+1) * s.stage
}

// first is the index of the first event of stage k: the events of the
// earlier stages, stage j holding rate_j × stage events (rounded down).
func (s schedule) first(k int) int64 {
	if k <= 0 {
		return 0
	}
	sec := s.stage.Seconds()
	kk := float64(k)
	return int64(sec * (kk*float64(s.rate) + float64(s.step)*kk*(kk-1)/2))
}

// total is how many events the schedule has room for (math.MaxInt64: no bound).
func (s schedule) total() int64 {
	if n := s.stages(); s.isRamp() && n != math.MaxInt {
		return s.first(n)
	}
	return math.MaxInt64
}

// stageOf is the stage of event i (0 outside a ramp).
func (s schedule) stageOf(i int64) int {
	if !s.isRamp() {
		return 0
	}
	// first grows at least linearly: bound the search, then bisect.
	hi := 1
	for s.first(hi) <= i {
		hi *= 2
	}
	return sort.Search(hi, func(k int) bool { return s.first(k+1) > i })
}

// stageAt is the stage running at time t after the epoch (0 outside a ramp).
func (s schedule) stageAt(t time.Duration) int {
	if !s.isRamp() || t < 0 {
		return 0
	}
	return int(t / s.stage)
}

// due is when event i is due after the epoch (0 when unpaced: the
// publisher then takes the send time). Stage k spreads its events evenly
// over its length.
func (s schedule) due(i int64) time.Duration {
	switch {
	case !s.paced():
		return 0
	case !s.isRamp():
		return time.Duration(i * int64(time.Second) / int64(s.rate))
	}
	k := s.stageOf(i)
	lo, n := s.first(k), s.first(k+1)-s.first(k)
	return time.Duration(k)*s.stage + time.Duration(float64(i-lo)*float64(s.stage)/float64(n))
}

// dueBy is how many events are due before t (for the open-loop backlog).
func (s schedule) dueBy(t time.Duration) int64 {
	switch {
	case !s.paced() || t <= 0:
		return 0
	case !s.isRamp():
		return (int64(t)*int64(s.rate)-1)/int64(time.Second) + 1
	}
	k := s.stageAt(t)
	lo, n := s.first(k), s.first(k+1)-s.first(k)
	off := t - time.Duration(k)*s.stage
	return min(lo+int64(math.Ceil(float64(off)*float64(n)/float64(s.stage))), s.total())
}
