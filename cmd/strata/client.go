package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// call sends method to a node's HTTP API and returns the body; a status
// other than want is an error carrying the body.
func call(method, addr, path string, want int) ([]byte, error) {
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Timeout: 15 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return b, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// get prints the body of GET path.
func get(addr, path string) error {
	b, err := call(http.MethodGet, addr, path, http.StatusOK)
	if err == nil {
		_, err = os.Stdout.Write(b)
	}
	return err
}

func userCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "user USER",
		Short: "Print a user's tiers and scores (GET /v1/users/{user})",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return get(addr, "/v1/users/"+url.PathEscape(args[0]))
		},
	}
	cmd.Flags().StringVar(&addr, "http", "127.0.0.1:8080", "HTTP address of a Strata node")
	return cmd
}

func tiersCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "tiers",
		Short: "Print user counts per tier (GET /v1/tiers)",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return get(addr, "/v1/tiers") },
	}
	cmd.Flags().StringVar(&addr, "http", "127.0.0.1:8080", "HTTP address of a Strata node")
	return cmd
}
