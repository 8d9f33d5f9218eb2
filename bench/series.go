package bench

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Sample is one interval of a phase's time series: what was sent and
// applied in it, the latency of the events applied in it, and the memory
// and CPU of what is measured (this whole process in process; the nodes'
// process_resident_memory_bytes and process_cpu_seconds_total, summed,
// against an external target).
type Sample struct {
	T                  float64 `json:"t"`       // end of the interval, seconds after the phase's first publish
	Seconds            float64 `json:"seconds"` // its length (the last one may be shorter)
	Published          int64   `json:"published"`
	PublishedPerSecond float64 `json:"published_per_second"` // events handed to NATS
	Applied            int64   `json:"applied"`
	AppliedPerSecond   float64 `json:"applied_per_second"` // events first applied by a replica of their shard
	Backlog            int64   `json:"backlog"`            // published − applied at its end
	P50                float64 `json:"p50_ms"`             // latency of the events applied in it
	P99                float64 `json:"p99_ms"`
	Max                float64 `json:"max_ms"`
	RSSBytes           int64   `json:"rss_bytes"`   // at its end; 0: not measured
	CPUPercent         float64 `json:"cpu_percent"` // CPU time over its length: 100 = one core busy
}

// status is the live state of a phase, for the progress line.
type status struct {
	elapsed    time.Duration
	published  int64
	applied    int64
	rate       float64 // events/s published in the last interval
	backlog    int64   // published − applied now
	p99        float64 // ms, of the last complete interval; -1 before the first
	rss        int64
	intervalOK bool // an interval is complete (p99 is meaningful)
}

// interval holds what was applied in one interval until it is complete.
type interval struct {
	applied int64
	hist    *hdrhistogram.Histogram
}

// series builds a phase's samples. Interval n is [n·every, (n+1)·every)
// after the epoch. Its published count, RSS and CPU are read at its end;
// the events applied in it are complete once every event sent before its
// end is acknowledged (an event is applied after it is sent), which the
// publisher's batches say (ackBatch.sentBy), so late acks are never
// missed and no interval waits longer than its acks.
type series struct {
	every     time.Duration
	samples   []Sample
	sentAt    []int64     // per sample: events published by its end
	open      []*interval // intervals from closed on
	spare     []*hdrhistogram.Histogram
	closed    int   // complete intervals
	appliedBy int64 // events applied before the end of the last complete interval
	prevSent  int64
	prevCPU   time.Duration
	peak      int64
	last      status
}

func (s *series) init(t tracking) {
	s.every = t.sample
	if t.usage != nil {
		_, s.prevCPU, _ = t.usage()
	}
	s.last.p99 = -1
}

// end is when interval n ends.
func (s *series) end(n int) time.Duration { return time.Duration(n+1) * s.every }

// applied counts one event applied at `at` with latency d.
func (s *series) applied(at, d time.Duration) {
	// An event is applied after it is sent, so never in a complete interval.
	i := max(int(at/s.every)-s.closed, 0)
	for len(s.open) <= i {
		var h *hdrhistogram.Histogram
		if n := len(s.spare); n > 0 {
			h, s.spare = s.spare[n-1], s.spare[:n-1]
		} else {
			h = newHistogram()
		}
		s.open = append(s.open, &interval{hist: h})
	}
	s.open[i].applied++
	record(s.open[i].hist, d)
}

// tick takes the samples whose intervals ended by `at`, completes the
// intervals whose acks are in, and reports the live status.
func (s *series) tick(r *recorder, at time.Duration) {
	took := false
	for at >= s.end(len(s.samples)) {
		s.take(r, s.end(len(s.samples)), s.every)
		took = true
	}
	for s.closed < len(s.samples) && (r.acksDone || r.sentBy >= s.end(s.closed)) {
		s.close()
	}
	if took && r.t.status != nil {
		s.last.elapsed, s.last.published, s.last.applied = at, r.t.count.Load(), r.matched
		s.last.backlog = s.last.published - r.matched
		r.t.status(s.last)
	}
}

// take samples the interval ending at end, of length d.
func (s *series) take(r *recorder, end, d time.Duration) {
	sent := r.t.count.Load()
	p := Sample{T: end.Seconds(), Seconds: d.Seconds(), Published: sent - s.prevSent}
	if d > 0 {
		p.PublishedPerSecond = float64(p.Published) / d.Seconds()
	}
	if r.t.usage != nil {
		if rss, cpu, ok := r.t.usage(); ok {
			p.RSSBytes = rss
			if d > 0 {
				p.CPUPercent = 100 * float64(cpu-s.prevCPU) / float64(d)
			}
			s.prevCPU = cpu
			s.peak = max(s.peak, rss)
		}
	}
	s.prevSent = sent
	s.samples = append(s.samples, p)
	s.sentAt = append(s.sentAt, sent)
	s.last.rate, s.last.rss = p.PublishedPerSecond, p.RSSBytes
}

// close completes the oldest open interval's sample.
func (s *series) close() {
	p := &s.samples[s.closed]
	if len(s.open) > 0 {
		iv := s.open[0]
		s.open = s.open[1:]
		p.Applied = iv.applied
		if iv.applied > 0 {
			p.P50 = float64(iv.hist.ValueAtPercentile(50)) / 1000
			p.P99 = float64(iv.hist.ValueAtPercentile(99)) / 1000
			p.Max = float64(iv.hist.Max()) / 1000
		}
		iv.hist.Reset()
		s.spare = append(s.spare, iv.hist)
	}
	if p.Seconds > 0 {
		p.AppliedPerSecond = float64(p.Applied) / p.Seconds
	}
	s.appliedBy += p.Applied
	p.Backlog = s.sentAt[s.closed] - s.appliedBy
	s.closed++
	s.last.p99, s.last.intervalOK = p.P99, true
}

// finish samples the last, partial interval up to `at` (every event is
// acknowledged and applied by then) and completes every interval.
func (s *series) finish(r *recorder, at time.Duration) {
	s.tick(r, at)
	for s.closed+len(s.open) > len(s.samples) || len(s.samples) == 0 {
		start := time.Duration(len(s.samples)) * s.every
		end := min(s.end(len(s.samples)), max(at, start))
		s.take(r, end, end-start)
	}
	for s.closed < len(s.samples) {
		s.close()
	}
}
