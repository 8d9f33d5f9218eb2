package bench

import (
	"fmt"
	"html/template"
	"io"
)

// Colours of the report's lines.
const (
	colPublished = "#1f77b4"
	colApplied   = "#2ca02c"
	colP99       = "#d62728"
	colCeiling   = "#7f7f7f"
)

// htmlCharts are the report page's charts, from the Strata phase's series
// (and the ceiling's, dashed, when measured).
func htmlCharts(r Report) []chart {
	t := func(s []Sample) []float64 { return column(s, func(p Sample) float64 { return p.T }) }
	var ceil []Sample
	if r.Ceiling != nil {
		ceil = full(r.Ceiling.Series, r.SampleSeconds)
	}
	r.Series = full(r.Series, r.SampleSeconds)
	sLine := func(name, color string, s []Sample, f func(Sample) float64, dashed bool) lineData {
		return lineData{name: name, color: color, dashed: dashed, xs: t(s), ys: column(s, f)}
	}
	withCeiling := func(lines []lineData, name string, f func(Sample) float64) []lineData {
		if len(ceil) > 0 {
			lines = append(lines, sLine(name, colCeiling, ceil, f, true))
		}
		return lines
	}
	pub := func(p Sample) float64 { return p.PublishedPerSecond }
	app := func(p Sample) float64 { return p.AppliedPerSecond }
	p50 := func(p Sample) float64 { return p.P50 }
	p99 := func(p Sample) float64 { return p.P99 }
	rss := func(p Sample) float64 { return float64(p.RSSBytes) / (1 << 20) }
	cpu := func(p Sample) float64 { return p.CPUPercent }

	charts := []chart{
		newChart("Throughput", "seconds", "events/s", withCeiling([]lineData{
			sLine("published", colPublished, r.Series, pub, false),
			sLine("applied", colApplied, r.Series, app, false)}, "ceiling applied", app), nil),
		newChart("Latency of the events applied in each interval", "seconds", "ms", withCeiling([]lineData{
			sLine("p50", colApplied, r.Series, p50, false),
			sLine("p99", colP99, r.Series, p99, false)}, "ceiling p99", p99), nil),
	}
	curve := func(name, color string, c []CurvePoint, dashed bool) lineData {
		l := lineData{name: name, color: color, dashed: dashed}
		for _, p := range c {
			l.xs, l.ys = append(l.xs, percentileX(p.Percentile)), append(l.ys, p.Ms)
		}
		return l
	}
	curves := []lineData{curve("strata", colP99, r.LatencyCurve, false)}
	if r.Ceiling != nil {
		curves = append(curves, curve("ceiling", colCeiling, r.Ceiling.LatencyCurve, true))
	}
	charts = append(charts,
		newChart("Latency by percentile", "percentile", "ms", curves, percentileAxis()),
		newChart("Resident memory", "seconds", "MiB", withCeiling([]lineData{
			sLine("RSS", colPublished, r.Series, rss, false)}, "ceiling RSS", rss), nil),
		newChart("CPU (100 = one core)", "seconds", "%", withCeiling([]lineData{
			sLine("CPU", colPublished, r.Series, cpu, false)}, "ceiling CPU", cpu), nil))
	return charts
}

// full drops a last interval shorter than half the others: its rates,
// over a few milliseconds, say little (the JSON keeps it).
func full(s []Sample, every float64) []Sample {
	if n := len(s); n > 1 && s[n-1].Seconds < every/2 {
		return s[:n-1]
	}
	return s
}

func column(s []Sample, f func(Sample) float64) []float64 {
	out := make([]float64, len(s))
	for i, p := range s {
		out[i] = f(p)
	}
	return out
}

// writeHTML writes the report as one self-contained page: no scripts, no
// styles or fonts from elsewhere, charts as inline SVG.
func writeHTML(w io.Writer, r Report) error {
	return htmlPage.Execute(w, struct {
		R      Report
		Title  string
		Charts []chart
		Rows   [][]string // the summary table
	}{r, reportTitle(r), htmlCharts(r), summaryRows(r)})
}

// summaryRows are the headline figures, shared with the Markdown report.
func summaryRows(r Report) [][]string {
	lat := func(l Latency) string {
		return fmt.Sprintf("%.1f / %.1f / %.1f / %.1f / %.1f", l.P50, l.P90, l.P99, l.P999, l.Max)
	}
	rows := [][]string{
		{"Strata applied", fmt.Sprintf("%.0f events/s", r.AppliedPerSecond), lat(r.Latency)},
	}
	if c := r.Ceiling; c != nil {
		rows = append(rows, []string{"pipe ceiling", fmt.Sprintf("%.0f events/s (ratio %.2f)", c.EventsPerSecond, r.Ratio), lat(c.Latency)})
	}
	if r.Transitions != nil {
		rows = append(rows, []string{"publish → transition received", fmt.Sprintf("%d transitions", r.Transitions.Count), lat(*r.Transitions)})
	}
	if rp := r.Ramp; rp != nil {
		rows = append(rows, []string{"ramp: sustainable", fmt.Sprintf("%d events/s", rp.SustainablePerSec), rp.Stop})
	}
	return rows
}

func reportTitle(r Report) string {
	load := "unpaced"
	switch {
	case r.Ramp != nil:
		load = fmt.Sprintf("ramp from %d/s by %d/s", r.Ramp.Start, r.Ramp.Step)
	case r.Rate > 0:
		load = fmt.Sprintf("%d events/s", r.Rate)
	}
	return fmt.Sprintf("strata bench: %d users, %d events, %d node(s), %s", r.Users, r.Sent, r.Nodes, load)
}

var htmlPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:60em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}
svg{display:block;margin:1.5em 0}svg text{font-size:11px;fill:#333}
</style></head><body>
<h1>{{.Title}}</h1>
<p>Target {{.R.Target}}; {{.R.Shards}} shards, {{.R.Replicas}} replica(s) each; latency from each event's scheduled send, exact to {{.R.LatencyResolutionMs}} ms; series every {{.R.SampleSeconds}} s.</p>
<table><tr><th></th><th>throughput</th><th>latency p50 / p90 / p99 / p99.9 / max (ms)</th></tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{range .Charts}}<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}">
<text x="{{.Left}}" y="14" font-weight="bold">{{.Title}}</text>
<g transform="translate({{.Left}},{{.Top}})">
<rect width="{{.PW}}" height="{{.PH}}" fill="none" stroke="#999"/>
{{$ph := .PH}}{{$pw := .PW}}{{range .YTicks}}<line x1="0" x2="{{$pw}}" y1="{{.Pos}}" y2="{{.Pos}}" stroke="#eee"/><text x="-6" y="{{.Pos}}" text-anchor="end" dominant-baseline="middle">{{.Label}}</text>
{{end}}{{range .XTicks}}<line x1="{{.Pos}}" x2="{{.Pos}}" y1="{{$ph}}" y2="{{$ph}}" stroke="#999"/><text x="{{.Pos}}" y="{{$ph}}" dy="14" text-anchor="middle">{{.Label}}</text>
{{end}}{{range .Lines}}<polyline class="series" data-name="{{.Name}}" data-points="{{.N}}" fill="none" stroke="{{.Color}}" stroke-width="1.5"{{if .Dashed}} stroke-dasharray="5,3"{{end}} points="{{.Points}}"/>
<g transform="translate({{.LX}},{{.LY}})"><line x1="0" x2="12" y1="0" y2="0" stroke="{{.Color}}" stroke-width="2"{{if .Dashed}} stroke-dasharray="4,2"{{end}}/><text x="16" y="0" dominant-baseline="middle">{{.Name}}</text></g>
{{end}}<text x="{{.PW}}" y="{{.PH}}" dy="30" text-anchor="end">{{.XLabel}}</text>
<text x="-56" y="-6">{{.YLabel}}</text>
</g></svg>
{{end}}{{with .R.Ramp}}<h2>Ramp</h2>
<table><tr><th>offered/s</th><th>applied/s</th><th>p50</th><th>p99</th><th>max (ms)</th><th>backlog (growth)</th><th>verdict</th></tr>
{{range .Stages}}<tr><td>{{.Rate}}</td><td>{{printf "%.0f" .AppliedPerSecond}}</td><td>{{printf "%.1f" .Latency.P50}}</td><td>{{printf "%.1f" .Latency.P99}}</td><td>{{printf "%.1f" .Latency.Max}}</td><td>{{.Backlog}} ({{.BacklogGrowth}})</td><td>{{.Verdict}}</td></tr>
{{end}}</table>{{end}}
</body></html>
`))
