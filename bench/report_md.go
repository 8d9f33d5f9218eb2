package bench

import (
	"fmt"
	"io"
	"strings"
)

// maxIntervalRows bounds the Markdown report's per-interval table: longer
// series show every k-th interval.
const maxIntervalRows = 20

// writeMarkdown writes the report as Markdown tables.
func writeMarkdown(w io.Writer, r Report) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	mib := func(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
	lat := func(l Latency) string {
		return fmt.Sprintf("%.1f / %.1f / %.1f / %.1f / %.1f", l.P50, l.P90, l.P99, l.P999, l.Max)
	}

	p("# %s\n\n", reportTitle(r))
	p("| config | |\n|---|---|\n")
	p("| target | %s |\n| users | %d |\n| events sent | %d of %d |\n| shards | %d |\n| nodes × replicas | %d × %d |\n",
		r.Target, r.Users, r.Sent, r.Events, r.Shards, r.Nodes, r.Replicas)
	switch {
	case r.Ramp != nil:
		p("| load | ramp %d/s + %d/s every %.0f s (p99 bound %.0f ms, backlog bound %.2f s) |\n",
			r.Ramp.Start, r.Ramp.Step, r.Ramp.StageSeconds, r.Ramp.P99BoundMs, r.Ramp.BacklogBoundSec)
	case r.Rate > 0:
		p("| load | %d events/s, open loop |\n", r.Rate)
	default:
		p("| load | unpaced |\n")
	}
	p("| latency resolution | %g ms |\n\n", r.LatencyResolutionMs)

	pc := r.Population
	p("**Population:** %d steady, %d new, %d quiet, %d returning users; %d whales; %d coupon abusers (%d burst events); %d purchases, %d refunds.\n\n",
		pc.Cohorts.Steady, pc.Cohorts.New, pc.Cohorts.Quiet, pc.Cohorts.Returning, pc.Whales, pc.Abusers, pc.BurstEvents,
		pc.Types["purchase"], pc.Types["refund"])

	p("## Throughput and latency\n\n| run | events/s | latency p50 / p90 / p99 / p99.9 / max (ms) | peak RSS |\n|---|---|---|---|\n")
	if c := r.Ceiling; c != nil {
		p("| pipe ceiling | %.0f | %s | %s |\n", c.EventsPerSecond, lat(c.Latency), mib(c.PeakRSSBytes))
	}
	ratio := ""
	if r.Ceiling != nil {
		ratio = fmt.Sprintf(" (ratio **%.2f**)", r.Ratio)
	}
	p("| Strata | %.0f%s | %s | %s |\n", r.AppliedPerSecond, ratio, lat(r.Latency), mib(r.PeakRSSBytes))
	if t := r.Transitions; t != nil {
		p("| publish → transition received | %d transitions | %s | |\n", t.Count, lat(*t))
	}
	p("| cross-check: %s | | %s | |\n\n", r.LatencyBuckets.Source, lat(r.LatencyBuckets))
	p("Published in %.2f s (%.0f events/s); applied by a replica in %.2f s, by every replica in %.2f s. ",
		r.PublishSeconds, r.PublishPerSecond, r.AppliedSeconds, r.ReplicatedSeconds)
	p("Counted: %d applied (%d on all replicas, %d snapshot restores), %d users tiered of %d sent. Disk: %s in Pebble.\n\n",
		r.Applied, r.ReplicaApplies, r.SnapshotRestores, r.TieredUsers, r.SentUsers, mib(r.PebbleDiskBytes))

	if len(r.LatencyCurve) > 0 {
		p("## Latency percentiles (ms)\n\n| percentile | Strata |")
		if r.Ceiling != nil {
			p(" ceiling |")
		}
		p("\n|---|---|")
		if r.Ceiling != nil {
			p("---|")
		}
		p("\n")
		for i := 0; i < len(r.LatencyCurve); i += curveSteps {
			p("| %g | %.1f |", r.LatencyCurve[i].Percentile, r.LatencyCurve[i].Ms)
			if c := r.Ceiling; c != nil && i < len(c.LatencyCurve) {
				p(" %.1f |", c.LatencyCurve[i].Ms)
			}
			p("\n")
		}
		p("\n")
	}

	if rp := r.Ramp; rp != nil {
		p("## Ramp: sustainable %d events/s\n\n%s.\n\n", rp.SustainablePerSec, rp.Stop)
		stagesTable(&b, rp)
		if c := r.Ceiling; c != nil && c.Ramp != nil {
			p("Pipe ceiling: sustainable %d events/s (%s).\n\n", c.Ramp.SustainablePerSec, c.Ramp.Stop)
			stagesTable(&b, c.Ramp)
		}
	}

	if len(r.Series) > 0 {
		k := (len(r.Series) + maxIntervalRows - 1) / maxIntervalRows
		p("## Over time (every %s)\n\n", plural(k, "interval"))
		p("| t (s) | published/s | applied/s | backlog | p50 | p99 | max (ms) | RSS | CPU %% |\n|---|---|---|---|---|---|---|---|---|\n")
		for i := 0; i < len(r.Series); i += k {
			s := r.Series[i]
			p("| %.1f | %.0f | %.0f | %d | %.1f | %.1f | %.1f | %s | %.0f |\n",
				s.T, s.PublishedPerSecond, s.AppliedPerSecond, s.Backlog, s.P50, s.P99, s.Max, mib(s.RSSBytes), s.CPUPercent)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func stagesTable(b *strings.Builder, rp *Ramp) {
	fmt.Fprintf(b, "| offered/s | applied/s | p50 / p99 / max (ms) | backlog (growth) | verdict |\n|---|---|---|---|---|\n")
	for _, st := range rp.Stages {
		fmt.Fprintf(b, "| %d | %.0f | %.1f / %.1f / %.1f | %d (%+d) | %s |\n", st.Rate, st.AppliedPerSecond,
			st.Latency.P50, st.Latency.P99, st.Latency.Max, st.Backlog, st.BacklogGrowth, st.Verdict)
	}
	b.WriteString("\n")
}

func plural(n int, what string) string {
	if n == 1 {
		return what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
