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
	var quick, asJSON bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load benchmark: events/s from publish to applied on an embedded node",
		Long: `Starts an embedded 1-node Strata in a temporary directory, publishes a seeded
population's events through JetStream, waits until all are applied and reports
events/s. Fails if Strata lost or double-counted any event.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quick {
				cfg.Users, cfg.Events = 2_000, 20_000
			}
			cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "bench", Level: hclog.Warn})
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
				fmt.Printf("users %d  events %d  shards %d\n", r.Users, r.Events, r.Shards)
				fmt.Printf("publish   %8.2fs  %10.0f events/s\n", r.PublishSeconds, r.PublishPerSecond)
				fmt.Printf("applied   %8.2fs  %10.0f events/s (publish → applied)\n", r.AppliedSeconds, r.AppliedPerSecond)
				fmt.Printf("check     applied %d, users tiered %d\n", r.Applied, r.TieredUsers)
				fmt.Printf("disk      %.1f MiB in Pebble\n", float64(r.PebbleDiskBytes)/(1<<20))
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&cfg.Users, "users", cfg.Users, "distinct users")
	fs.IntVar(&cfg.Events, "events", cfg.Events, "events to publish")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "population seed")
	fs.IntVar(&cfg.Shards, "shards", cfg.Shards, "shards of the embedded node")
	fs.BoolVar(&quick, "quick", false, "small run for CI (2 000 users, 20 000 events)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (Strata and generator) to this file")
	return cmd
}
