package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"
)

func get(addr, path string) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(os.Stdout, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
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
