package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/strata-io/strata/bench"
)

func benchCmd() *cobra.Command {
	cfg := bench.DefaultConfig()
	var quick, asJSON, verbose, progress bool
	var cpuProfile, rampSpec, reportDir, natsURL string
	var httpURLs []string
	var target bench.Target
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load benchmark: events/s and latency from publish to applied, 1 node or an in-process cluster",
		Long: `Starts Strata in this process in a temporary directory — one node with embedded
NATS, or --nodes nodes forming a cluster on one shared nats-server — publishes a
seeded population's events through JetStream, waits until every replica applied
them all and reports events/s and latency. Fails if Strata lost or
double-counted any event.

Latency is measured for every event, from its scheduled send time to the first
1 ms poll that sees a replica of its shard past it. Without --rate events leave
as fast as the publisher's window allows and latency includes the backlog; with
--rate they are due at fixed times (open loop), so latency at a rate below the
maximum shows what a steady load sees. The Prometheus histogram
strata_event_applied_seconds, interpolated within its buckets, is reported
beside it as a cross-check.

Before Strata starts, the run measures the raw pipe's ceiling (unless
--ceiling=false or --quick): the same events, published the same way, through
a nats-server and stream configured like Strata's, to one bare consumer per
partition that does nothing. Its events/s and latency are measured like
Strata's, and the report quotes Strata's applied events/s as a ratio of it.

--ramp START:STEP:STAGE replaces --rate by a step ramp: open-loop stages of
STAGE each at START, START+STEP, … events/s (up to --ramp-max) until a stage is
not sustainable (its p99 over --ramp-p99, or its backlog grown by more than
--ramp-backlog's worth of its rate) or --events run out; the report gives the
highest sustainable rate, for the ceiling too.

--nats URL --http URL[,URL…] benchmark a running node or cluster (strata
serve, strata dev) instead: events go to its NATS, progress is read from every
node's strata_shard_cursor gauge on GET /metrics every --poll, and counts are
checked through the growth of its counters and GET /v1/tiers. No ceiling then.

While it runs, a progress line on stderr (--progress=false: none) shows the
phase, events published and applied, rate, backlog, the last interval's p99
and RSS. --report DIR writes report.json, report.md and report.html (charts,
one self-contained page).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rampSpec != "" {
				var err error
				if cfg.RampStart, cfg.RampStep, cfg.RampStage, err = parseRamp(rampSpec); err != nil {
					return err
				}
			}
			if natsURL != "" || len(httpURLs) > 0 {
				if cfg.ModelFile != "" {
					return errors.New("--model starts the nodes with a model file; load it into a running target with strata model apply")
				}
				target.NATS, target.HTTP = natsURL, httpURLs
				cfg.Target = &target
				if !cmd.Flags().Changed("ceiling") {
					cfg.Ceiling = false
				}
			}
			if quick {
				cfg.Users, cfg.Events = 2_000, 20_000
				if !cmd.Flags().Changed("ceiling") {
					cfg.Ceiling = false
				}
			}
			level := hclog.Warn
			if verbose {
				level = hclog.Info
			}
			cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "bench", Level: level})
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			var line *bench.ProgressLine
			if progress {
				line = &bench.ProgressLine{W: os.Stderr, Terminal: isTerminal(os.Stderr)}
				cfg.Progress = line.Update
			}
			r, err := bench.Run(cmd.Context(), cfg)
			if line != nil {
				line.Done()
			}
			if reportDir != "" && r.Sent > 0 {
				if werr := bench.WriteReports(reportDir, r); werr != nil && err == nil {
					err = werr
				}
			}
			if asJSON {
				_ = json.NewEncoder(os.Stdout).Encode(r)
			} else {
				rate := "unpaced"
				switch {
				case r.Ramp != nil:
					rate = fmt.Sprintf("ramp from %d events/s, +%d every %.0fs", r.Ramp.Start, r.Ramp.Step, r.Ramp.StageSeconds)
				case r.Rate > 0:
					rate = fmt.Sprintf("%d events/s offered", r.Rate)
				}
				model := ""
				if r.Model != "" {
					model = "  model " + r.Model
				}
				fmt.Printf("users %d  events %d  shards %d  nodes %d (×%d replicas)  %s%s\n",
					r.Users, r.Events, r.Shards, r.Nodes, r.Replicas, rate, model)
				pc := r.Population.Cohorts
				fmt.Printf("population cohorts steady %d, new %d, quiet %d, returning %d; %d whales, %d coupon abusers (%d burst events), %d purchases, %d refunds\n",
					pc.Steady, pc.New, pc.Quiet, pc.Returning, r.Population.Whales, r.Population.Abusers,
					r.Population.BurstEvents, r.Population.Types["purchase"], r.Population.Types["refund"])
				if c := r.Ceiling; c != nil {
					fmt.Printf("ceiling    %8.2fs  %10.0f events/s (publish → seen by bare consumers, same events and NATS setup; publish %.0f events/s)\n",
						c.Seconds, c.EventsPerSecond, c.PublishPerSecond)
				}
				if r.Ramp != nil {
					if r.Ceiling != nil {
						printRamp("ceiling", r.Ceiling.Ramp)
					}
					printRamp("strata", r.Ramp)
				}
				fmt.Printf("publish    %8.2fs  %10.0f events/s (%d events sent)\n", r.PublishSeconds, r.PublishPerSecond, r.Sent)
				fmt.Printf("applied    %8.2fs  %10.0f events/s (publish → applied by a replica)\n", r.AppliedSeconds, r.AppliedPerSecond)
				if r.Ceiling != nil {
					fmt.Printf("ratio      %8.2f   (applied events/s ÷ ceiling events/s)\n", r.Ratio)
				}
				fmt.Printf("replicated %8.2fs  (publish → applied by every replica)\n", r.ReplicatedSeconds)
				printLatency("latency", r.Latency)
				if r.Ceiling != nil {
					printLatency("ceiling", r.Ceiling.Latency)
				}
				printLatency("buckets", r.LatencyBuckets)
				if r.Transitions != nil {
					printLatency("transition", *r.Transitions)
				}
				fmt.Printf("check      applied %d (%d on all replicas, %d snapshot restores), users tiered %d of %d sent\n",
					r.Applied, r.ReplicaApplies, r.SnapshotRestores, r.TieredUsers, r.SentUsers)
				fmt.Printf("memory     %.0f MiB peak RSS (%s)", float64(r.PeakRSSBytes)/(1<<20), map[bool]string{true: "whole process", false: "target's nodes"}[r.Target == "in-process"])
				if r.Ceiling != nil {
					fmt.Printf("; ceiling phase %.0f MiB", float64(r.Ceiling.PeakRSSBytes)/(1<<20))
				}
				fmt.Println()
				fmt.Printf("disk       %.1f MiB in Pebble (all nodes)\n", float64(r.PebbleDiskBytes)/(1<<20))
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&cfg.Users, "users", cfg.Users, "distinct users")
	fs.IntVar(&cfg.Events, "events", cfg.Events, "events to publish")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "population seed")
	fs.IntVar(&cfg.Shards, "shards", cfg.Shards, "shards")
	fs.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, fmt.Sprintf("Strata nodes in this process, 1..%d (more than 1: a cluster on one nats-server)", bench.MaxNodes))
	fs.IntVar(&cfg.Rate, "rate", cfg.Rate, "offered load in events/s, paced open loop (0: as fast as possible)")
	fs.BoolVar(&cfg.Ceiling, "ceiling", cfg.Ceiling, "measure the raw pipe (same events and NATS setup, bare consumers) before Strata and quote the ratio")
	fs.StringVar(&rampSpec, "ramp", "", "step ramp START:STEP:STAGE, e.g. 5000:5000:20s (events/s, events/s, duration); replaces --rate")
	fs.IntVar(&cfg.RampMax, "ramp-max", 0, "highest rate the ramp offers, events/s (0: until a stage fails or --events run out)")
	fs.DurationVar(&cfg.RampP99, "ramp-p99", cfg.RampP99, "a ramp stage whose p99 latency exceeds this is not sustainable")
	fs.DurationVar(&cfg.RampBacklog, "ramp-backlog", cfg.RampBacklog, "a ramp stage whose backlog grows by more than this much of its rate is not sustainable")
	fs.DurationVar(&cfg.SampleEvery, "sample", cfg.SampleEvery, "length of the report's time-series intervals")
	fs.BoolVar(&progress, "progress", true, "show a live progress line on stderr (rewritten on a terminal, every 5 s otherwise)")
	fs.StringVar(&reportDir, "report", "", "write report.json, report.md and report.html to this directory")
	fs.StringVar(&natsURL, "nats", "", "benchmark a running target: its NATS URL (with --http)")
	fs.StringSliceVar(&httpURLs, "http", nil, "benchmark a running target: HTTP URL of one or more of its nodes (others found via /v1/cluster)")
	fs.DurationVar(&target.Poll, "poll", 10*time.Millisecond, "running target: how often every node's /metrics is read (the latency resolution)")
	fs.StringVar(&cfg.ModelFile, "model", "", "run the nodes with this tier model file (HCL) instead of the built-in model")
	fs.BoolVar(&quick, "quick", false, "small run for CI (2 000 users, 20 000 events, no ceiling unless --ceiling)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(&verbose, "verbose", false, "log the run's phases (start, ready, publishing, applied) on stderr")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (Strata and generator) to this file")
	return cmd
}

// parseRamp reads START:STEP:STAGE (events/s, events/s, a duration).
func parseRamp(s string) (start, step int, stage time.Duration, err error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, 0, 0, fmt.Errorf("--ramp %q: want START:STEP:STAGE, e.g. 5000:5000:20s", s)
	}
	if start, err = strconv.Atoi(parts[0]); err != nil || start <= 0 {
		return 0, 0, 0, fmt.Errorf("--ramp %q: start %q: want events/s > 0", s, parts[0])
	}
	if step, err = strconv.Atoi(parts[1]); err != nil || step <= 0 {
		return 0, 0, 0, fmt.Errorf("--ramp %q: step %q: want events/s > 0", s, parts[1])
	}
	if stage, err = time.ParseDuration(parts[2]); err != nil || stage <= 0 {
		return 0, 0, 0, fmt.Errorf("--ramp %q: stage %q: want a duration > 0", s, parts[2])
	}
	return start, step, stage, nil
}

// isTerminal reports whether f is a character device (a terminal; also
// /dev/null, where a rewritten line does no harm).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// printRamp prints a ramp's stages and its sustainable rate.
func printRamp(label string, r *bench.Ramp) {
	if r == nil {
		return
	}
	fmt.Printf("%-10s ramp: sustainable %d events/s (%s)\n", label, r.SustainablePerSec, r.Stop)
	for _, st := range r.Stages {
		fmt.Printf("           %8d/s offered  %8.0f/s applied  p50 %.1f  p99 %.1f  max %.1f ms  backlog %d (%+d)  %s\n",
			st.Rate, st.AppliedPerSecond, st.Latency.P50, st.Latency.P99, st.Latency.Max, st.Backlog, st.BacklogGrowth, st.Verdict)
	}
}

func printLatency(label string, l bench.Latency) {
	fmt.Printf("%-10s p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f ms  (%d events; %s)\n",
		label, l.P50, l.P90, l.P99, l.P999, l.Max, l.Count, l.Source)
}
