package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// testReport is a report as a run fills it, with n samples per phase.
func testReport(n int) Report {
	series := func(scale float64) []Sample {
		var s []Sample
		for i := range n {
			s = append(s, Sample{T: float64(i + 1), Seconds: 1, Published: int64(1000 * scale), PublishedPerSecond: 1000 * scale,
				Applied: int64(900 * scale), AppliedPerSecond: 900 * scale, Backlog: int64(100 * (i + 1)),
				P50: 2 * scale, P99: 10*scale + float64(i), Max: 20 * scale, RSSBytes: int64(100+i) << 20, CPUPercent: 50 + float64(i)})
		}
		return s
	}
	h := newHistogram()
	for i := 1; i <= 10_000; i++ {
		_ = h.RecordValue(int64(i))
	}
	lat := histLatency(h, sourceExact)
	r := Report{Target: "in-process", Users: 1000, Events: 10_000, Sent: 10_000, Shards: 4, Nodes: 1, Replicas: 1,
		AppliedPerSecond: 900, Latency: lat, LatencyCurve: percentileCurve(h), LatencyResolutionMs: 1,
		SampleSeconds: 1, Series: series(1), Transitions: &lat,
		Ramp: &Ramp{Start: 1000, Step: 1000, StageSeconds: 5, Stages: []Stage{{Rate: 1000, Sustainable: true, Verdict: verdictOK},
			{Rate: 2000, Verdict: "p99 300ms over 100ms"}}, SustainablePerSec: 1000, Stop: "not sustainable: p99 300ms over 100ms"},
		Ceiling: &Ceiling{EventsPerSecond: 1800, Latency: lat, LatencyCurve: percentileCurve(h), Series: series(2)},
		Ratio:   0.5,
	}
	return r
}

func TestWriteReports(t *testing.T) {
	dir := t.TempDir()
	r := testReport(7)
	if err := WriteReports(dir, r); err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var back Report
	if err := json.Unmarshal(read("report.json"), &back); err != nil || !reflect.DeepEqual(back.Series, r.Series) || back.Ramp.SustainablePerSec != 1000 {
		t.Fatalf("report.json does not round-trip: %v", err)
	}
	md := string(read("report.md"))
	for _, want := range []string{"| Strata | 900 (ratio **0.50**) |", "| pipe ceiling | 1800 |", "## Ramp: sustainable 1000 events/s",
		"| 2000 | 0 | 0.0 / 0.0 / 0.0 | 0 (+0) | p99 300ms over 100ms |", "| 99.999 |", "| 7.0 | 1000 | 900 | 700 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	checkHTML(t, read("report.html"), r)
}

// checkHTML checks that the page is self-contained and that each chart is
// well-formed SVG whose lines carry one point per sample (or curve point).
func checkHTML(t *testing.T, page []byte, r Report) {
	t.Helper()
	if bytes.Contains(page, []byte("<script")) || regexp.MustCompile(`(src|href)=`).Match(page) {
		t.Fatal("report.html loads something: want a self-contained page")
	}
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAll(page, -1)
	if len(svgs) != 5 {
		t.Fatalf("%d charts, want 5", len(svgs))
	}
	lines := map[string]int{} // polyline name → points
	for i, svg := range svgs {
		d := xml.NewDecoder(bytes.NewReader(svg))
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("chart %d is not well-formed XML: %v\n%s", i, err, svg)
			}
			el, ok := tok.(xml.StartElement)
			if !ok || el.Name.Local != "polyline" {
				continue
			}
			attr := map[string]string{}
			for _, a := range el.Attr {
				attr[a.Name.Local] = a.Value
			}
			pts := strings.Fields(attr["points"])
			if n, _ := strconv.Atoi(attr["data-points"]); n != len(pts) {
				t.Fatalf("chart %d line %q: %d points, says %d", i, attr["data-name"], len(pts), n)
			}
			for _, pt := range pts {
				x, y, _ := strings.Cut(pt, ",")
				xf, errx := strconv.ParseFloat(x, 64)
				yf, erry := strconv.ParseFloat(y, 64)
				if errx != nil || erry != nil || xf < 0 || xf > chartW || yf < 0 || yf > chartH {
					t.Fatalf("chart %d line %q: point %q outside the plot", i, attr["data-name"], pt)
				}
			}
			lines[attr["data-name"]] = len(pts)
		}
	}
	for name, want := range map[string]int{"published": len(r.Series), "applied": len(r.Series), "ceiling applied": len(r.Ceiling.Series),
		"p99": len(r.Series), "strata": len(r.LatencyCurve), "ceiling": len(r.Ceiling.LatencyCurve), "RSS": len(r.Series), "CPU": len(r.Series)} {
		if lines[name] != want {
			t.Errorf("line %q: %d points, want %d", name, lines[name], want)
		}
	}
}

// The highest sample sits at the top of the plot, zero at its bottom.
func TestChartScales(t *testing.T) {
	c := newChart("t", "x", "y", []lineData{{name: "a", xs: []float64{0, 1, 2}, ys: []float64{0, 50, 100}}}, nil)
	pts := strings.Fields(c.Lines[0].Points)
	if pts[0] != "0,"+strconv.Itoa(c.PH) || !strings.HasSuffix(pts[2], ",0") {
		t.Fatalf("points %v: want the first at the bottom left, the last at the top (y ticks %v)", pts, c.YTicks)
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 100, 5, []float64{0, 25, 50, 75, 100}},
		{0, 7, 5, []float64{0, 2, 4, 6, 8}},
		{0, 0, 5, []float64{0, 0.25, 0.5, 0.75, 1}},
		{0, 180_000, 5, []float64{0, 50_000, 100_000, 150_000, 200_000}},
	} {
		got := niceTicks(tc.lo, tc.hi, tc.n)
		if len(got) != len(tc.want) {
			t.Errorf("niceTicks(%v, %v, %d) = %v, want %v", tc.lo, tc.hi, tc.n, got, tc.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tc.want[i]) > 1e-9 {
				t.Errorf("niceTicks(%v, %v, %d) = %v, want %v", tc.lo, tc.hi, tc.n, got, tc.want)
				break
			}
		}
	}
}
