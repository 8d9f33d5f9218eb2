// Command strata runs and talks to Strata, the real-time user tiering engine.
//
//	strata serve                 start a node (embedded NATS unless --nats)
//	strata user u42              read a user from a running node
//	strata tiers                 tier counts of a running node
//	strata bench                 load benchmark (see `strata bench --help`)
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "strata",
		Short:         "Strata: distributed real-time user tiering",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), devCmd(), userCmd(), tiersCmd(), benchCmd(), clusterCmd(), modelCmd(), explainCmd(), membersCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "strata:", err)
		os.Exit(1)
	}
}
