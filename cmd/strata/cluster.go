package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/strata-io/strata/cluster"
)

func clusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Inspect and change cluster membership"}
	cmd.AddCommand(clusterStatusCmd(), clusterLeaveCmd())
	return cmd
}

func clusterStatusCmd() *cobra.Command {
	var addr string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show nodes, shards, replicas, leaders, applied indexes and lag (GET /v1/cluster)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if asJSON {
				return get(addr, "/v1/cluster")
			}
			var st cluster.Status
			if err := getJSON(addr, "/v1/cluster", &st); err != nil {
				return err
			}
			printStatus(os.Stdout, &st)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "http", "127.0.0.1:8080", "HTTP address of any Strata node")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON")
	return cmd
}

func clusterLeaveCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "leave NODE",
		Short: "Decommission a node: move its replicas off, then remove it (POST /v1/cluster/nodes/{node}/leave)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			b, err := call(http.MethodPost, addr, "/v1/cluster/nodes/"+url.PathEscape(args[0])+"/leave", http.StatusAccepted)
			if err == nil {
				_, err = os.Stdout.Write(b)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&addr, "http", "127.0.0.1:8080", "HTTP address of any Strata node")
	return cmd
}

func getJSON(addr, path string, v any) error {
	b, err := call(http.MethodGet, addr, path, http.StatusOK)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func printStatus(w io.Writer, st *cluster.Status) {
	fmt.Fprintf(w, "control leader %s, version %d, %d shards × %d replicas\n\n", st.ControlLeader, st.Version, st.Shards, st.Replicas)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATUS\tALIVE\tREPLICAS\tLEADERS\tRAFT\tHTTP")
	for _, n := range st.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\t%s\t%s\n", n.ID, n.Status, n.Alive, n.Replicas, n.Leaders, n.RaftAddr, n.HTTPAddr)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tLEADER\tTERM\tPLACEMENT\tREPLICAS (node:applied/lag)")
	for _, g := range st.Groups {
		var reps []string
		for _, r := range g.Replicas {
			reps = append(reps, fmt.Sprintf("%s:%d/%d", r.Node, r.AppliedIndex, r.Lag))
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", g.Shard, g.Leader, g.Term, strings.Join(g.Placement, ","), strings.Join(reps, " "))
	}
	_ = tw.Flush()
}
