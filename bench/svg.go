package bench

import (
	"math"
	"strconv"
	"strings"
)

// A chart is a line chart ready for the HTML template (report_html.go):
// every coordinate is in SVG user units, every label a plain string that
// the template escapes.
type chart struct {
	Title          string
	XLabel, YLabel string
	W, H           int // whole chart
	Left, Top      int // plot area origin
	PW, PH         int // plot area size
	XTicks, YTicks []tick
	Lines          []polyline
}

type tick struct {
	Pos   float64 // along its axis, in the plot area
	Label string
}

type polyline struct {
	Name   string
	Color  string
	Dashed bool
	Points string // "x,y x,y …"
	N      int    // points
	LX, LY int    // legend entry position
}

// series is one line's data, in data units.
type lineData struct {
	name   string
	color  string
	dashed bool
	xs, ys []float64
}

// axis maps data values to the plot area.
type axis struct {
	lo, hi float64
	ticks  []float64
	label  func(float64) string
}

const chartW, chartH, padL, padR, padT, padB = 640, 260, 64, 16, 36, 40

// newChart lays out lines (at least one point among them) on a linear x
// axis (or xAxis when given) and a linear y axis from 0.
func newChart(title, xLabel, yLabel string, lines []lineData, xAxis *axis) chart {
	c := chart{Title: title, XLabel: xLabel, YLabel: yLabel, W: chartW, H: chartH,
		Left: padL, Top: padT, PW: chartW - padL - padR, PH: chartH - padT - padB}
	xlo, xhi, yhi := math.Inf(1), math.Inf(-1), 0.0
	for _, l := range lines {
		for i := range l.xs {
			xlo, xhi, yhi = min(xlo, l.xs[i]), max(xhi, l.xs[i]), max(yhi, l.ys[i])
		}
	}
	if math.IsInf(xlo, 1) {
		xlo, xhi = 0, 1
	}
	x := axis{lo: xlo, hi: xhi, label: numLabel}
	if xAxis != nil {
		x = *xAxis
	} else {
		x.ticks = niceTicks(xlo, xhi, 6)
		x.lo, x.hi = min(xlo, x.ticks[0]), max(xhi, x.ticks[len(x.ticks)-1])
	}
	y := axis{lo: 0, label: numLabel}
	y.ticks = niceTicks(0, max(yhi, 1e-9), 5)
	y.hi = y.ticks[len(y.ticks)-1]
	px := func(v float64) float64 { return scale(v, x.lo, x.hi, float64(c.PW)) }
	py := func(v float64) float64 { return float64(c.PH) - scale(v, y.lo, y.hi, float64(c.PH)) }
	for _, v := range x.ticks {
		c.XTicks = append(c.XTicks, tick{Pos: round2(px(v)), Label: x.label(v)})
	}
	for _, v := range y.ticks {
		c.YTicks = append(c.YTicks, tick{Pos: round2(py(v)), Label: y.label(v)})
	}
	lx := 0
	for _, l := range lines {
		var b strings.Builder
		for i := range l.xs {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.FormatFloat(round2(px(l.xs[i])), 'f', -1, 64))
			b.WriteByte(',')
			b.WriteString(strconv.FormatFloat(round2(py(l.ys[i])), 'f', -1, 64))
		}
		c.Lines = append(c.Lines, polyline{Name: l.name, Color: l.color, Dashed: l.dashed, Points: b.String(),
			N: len(l.xs), LX: lx, LY: -10})
		lx += 16 + 7*len([]rune(l.name)) + 14
	}
	for i := range c.Lines { // legend right-aligned above the plot
		c.Lines[i].LX += c.PW - lx
	}
	return c
}

// scale maps v in [lo, hi] to [0, size].
func scale(v, lo, hi, size float64) float64 {
	if hi <= lo {
		return 0
	}
	return (v - lo) / (hi - lo) * size
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// niceTicks returns about n round values (1, 2, 2.5 or 5 × 10^k apart)
// covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(max(n-1, 1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	var out []float64
	for v := math.Floor(lo/step) * step; ; v += step {
		out = append(out, math.Round(v/step)*step)
		if v >= hi-step*1e-9 {
			return out
		}
	}
}

// numLabel prints a tick value: 1500 as 1.5k, 2000000 as 2M.
func numLabel(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// percentileAxis is the x axis of a percentile curve: position
// −log10(1 − p/100), so 90, 99, 99.9 … are evenly spaced, as HdrHistogram plots it.
func percentileAxis() *axis {
	a := &axis{lo: 0, hi: curveDecades, label: func(v float64) string {
		if v == 0 {
			return "0"
		}
		return strconv.FormatFloat(math.Round(1e6*100*(1-math.Pow(10, -v)))/1e6, 'f', -1, 64)
	}}
	for d := 0; d <= curveDecades; d++ {
		a.ticks = append(a.ticks, float64(d))
	}
	return a
}

// percentileX is a percentile's position on percentileAxis.
func percentileX(p float64) float64 {
	return min(-math.Log10(max(1-p/100, math.Pow(10, -curveDecades))), curveDecades)
}
