package bench

import (
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in HdrHistogram, in microseconds from 1 µs to an
// hour with 3 significant digits (values within 0.1%; about 190 KB per
// histogram whatever the number of events): the bench folds every event in
// as the tracker sees it applied and keeps no per-event latency.
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	histDigits  = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

// record adds one latency, clamped to the histogram's range.
func record(h *hdrhistogram.Histogram, d time.Duration) {
	_ = h.RecordValue(min(max(int64(d/time.Microsecond), histLowest), histHighest))
}

// histLatency summarises h (microseconds) in milliseconds.
func histLatency(h *hdrhistogram.Histogram, source string) Latency {
	l := Latency{Source: source, Count: h.TotalCount()}
	if l.Count == 0 {
		return l
	}
	q := func(p float64) float64 { return float64(h.ValueAtPercentile(p)) / 1000 }
	l.P50, l.P90, l.P99, l.P999, l.Max = q(50), q(90), q(99), q(99.9), float64(h.Max())/1000
	return l
}

// CurvePoint is one point of a latency percentile curve.
type CurvePoint struct {
	Percentile float64 `json:"percentile"` // 0 … 99.999
	Ms         float64 `json:"ms"`         // latency at it
}

// curveDecades is how far the percentile curve reaches: 99.999 (5 nines),
// in curveSteps points per decade of 1 − percentile.
const (
	curveDecades = 5
	curveSteps   = 10
)

// percentileCurve is h's percentile curve as HdrHistogram plots it:
// latency against the percentile, at points evenly spaced in
// −log10(1 − percentile), from 0 to 99.999 (nil when h is empty).
func percentileCurve(h *hdrhistogram.Histogram) []CurvePoint {
	if h.TotalCount() == 0 {
		return nil
	}
	pts := make([]CurvePoint, 0, curveDecades*curveSteps+1)
	for i := 0; i <= curveDecades*curveSteps; i++ {
		p := 100 * (1 - math.Pow(10, -float64(i)/curveSteps))
		p = math.Round(p*1e6) / 1e6
		pts = append(pts, CurvePoint{Percentile: p, Ms: float64(h.ValueAtPercentile(p)) / 1000})
	}
	return pts
}
