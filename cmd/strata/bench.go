package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/strata-io/strata/bench"
)

func benchCmd() *cobra.Command {
	cfg := bench.DefaultConfig()
	var quick, asJSON, verbose bool
	var cpuProfile string
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
Strata's, and the report quotes Strata's applied events/s as a ratio of it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			r, err := bench.Run(cmd.Context(), cfg)
			if asJSON {
				_ = json.NewEncoder(os.Stdout).Encode(r)
			} else {
				rate := "unpaced"
				if r.Rate > 0 {
					rate = fmt.Sprintf("%d events/s offered", r.Rate)
				}
				fmt.Printf("users %d  events %d  shards %d  nodes %d (×%d replicas)  %s\n",
					r.Users, r.Events, r.Shards, r.Nodes, r.Replicas, rate)
				pc := r.Population.Cohorts
				fmt.Printf("population cohorts steady %d, new %d, quiet %d, returning %d; %d whales, %d coupon abusers (%d burst events), %d purchases, %d refunds\n",
					pc.Steady, pc.New, pc.Quiet, pc.Returning, r.Population.Whales, r.Population.Abusers,
					r.Population.BurstEvents, r.Population.Types["purchase"], r.Population.Types["refund"])
				if c := r.Ceiling; c != nil {
					fmt.Printf("ceiling    %8.2fs  %10.0f events/s (publish → seen by bare consumers, same events and NATS setup; publish %.0f events/s)\n",
						c.Seconds, c.EventsPerSecond, c.PublishPerSecond)
				}
				fmt.Printf("publish    %8.2fs  %10.0f events/s\n", r.PublishSeconds, r.PublishPerSecond)
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
				fmt.Printf("check      applied %d (%d on all replicas, %d snapshot restores), users tiered %d\n",
					r.Applied, r.ReplicaApplies, r.SnapshotRestores, r.TieredUsers)
				fmt.Printf("memory     %.0f MiB peak RSS (whole process)\n", float64(r.PeakRSSBytes)/(1<<20))
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
	fs.BoolVar(&quick, "quick", false, "small run for CI (2 000 users, 20 000 events, no ceiling unless --ceiling)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(&verbose, "verbose", false, "log the run's phases (start, ready, publishing, applied) on stderr")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (Strata and generator) to this file")
	return cmd
}

func printLatency(label string, l bench.Latency) {
	fmt.Printf("%-10s p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f ms  (%d events; %s)\n",
		label, l.P50, l.P90, l.P99, l.P999, l.Max, l.Count, l.Source)
}
