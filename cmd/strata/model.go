package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// send sends method with body to a node's HTTP API and prints the answer;
// a status other than want is an error carrying the body.
func send(method, addr, path string, body []byte, want int) error {
	req, err := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: 2 * time.Minute}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	_, err = os.Stdout.Write(b)
	return err
}

// modelCmd groups the model commands: the HTTP API's /v1/model endpoints.
func modelCmd() *cobra.Command {
	var addr, mode string
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Show, load, shadow, promote and judge the cluster's tier model",
	}
	cmd.PersistentFlags().StringVar(&addr, "http", "127.0.0.1:8080", "HTTP address of a Strata node")
	file := func(path string) ([]byte, string, error) {
		b, err := os.ReadFile(path)
		return b, url.QueryEscape(filepath.Base(path)), err
	}
	modeQuery := func() string {
		if mode == "" {
			return ""
		}
		return "mode=" + url.QueryEscape(mode)
	}
	show := &cobra.Command{
		Use: "show", Short: "Print the model plan and every shard's progress (GET /v1/model)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return get(addr, "/v1/model") },
	}
	apply := &cobra.Command{
		Use: "apply FILE", Short: "Make a model file the active model (PUT /v1/model)", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			b, name, err := file(args[0])
			if err != nil {
				return err
			}
			return send(http.MethodPut, addr, "/v1/model?file="+name+"&"+modeQuery(), b, http.StatusOK)
		},
	}
	apply.Flags().StringVar(&mode, "mode", "", "emit (publish every tier change; default) or rebaseline (move users silently)")
	shadow := &cobra.Command{
		Use: "shadow FILE", Short: "Run a model file in shadow beside the active model (POST /v1/model/shadow)", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			b, name, err := file(args[0])
			if err != nil {
				return err
			}
			return send(http.MethodPost, addr, "/v1/model/shadow?file="+name, b, http.StatusOK)
		},
	}
	moves := &cobra.Command{
		Use: "moves", Short: "Print what the shadow model would change (GET /v1/model/shadow)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return get(addr, "/v1/model/shadow") },
	}
	promote := &cobra.Command{
		Use: "promote", Short: "Make the shadow model the active one (POST /v1/model/promote)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return send(http.MethodPost, addr, "/v1/model/promote?"+modeQuery(), nil, http.StatusOK)
		},
	}
	promote.Flags().StringVar(&mode, "mode", "", "emit (publish every tier change; default) or rebaseline (move users silently)")
	discard := &cobra.Command{
		Use: "discard", Short: "Stop the shadow model (DELETE /v1/model/shadow)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return send(http.MethodDelete, addr, "/v1/model/shadow", nil, http.StatusOK)
		},
	}
	var sample int
	report := &cobra.Command{
		Use: "report", Short: "Judge the active model: tier sizes, homogeneity, separation, concentration (GET /v1/model/report)",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return get(addr, fmt.Sprintf("/v1/model/report?sample=%d", sample))
		},
	}
	report.Flags().IntVar(&sample, "sample", 100_000, "users to read (0: all)")
	cmd.AddCommand(show, apply, shadow, moves, promote, discard, report)
	return cmd
}

func explainCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "explain USER",
		Short: "Explain a user's tiers: rules, the values they read, recent transitions (GET /v1/users/{user}/explain)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return get(addr, "/v1/users/"+url.PathEscape(args[0])+"/explain")
		},
	}
	cmd.Flags().StringVar(&addr, "http", "127.0.0.1:8080", "HTTP address of a Strata node")
	return cmd
}

func membersCmd() *cobra.Command {
	var addr, cursor string
	var limit int
	cmd := &cobra.Command{
		Use:   "members DIMENSION TIER",
		Short: "List a tier's members, a page at a time (GET /v1/tiers/{dimension}/{tier}/users)",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			q := fmt.Sprintf("?limit=%d", limit)
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			return get(addr, "/v1/tiers/"+url.PathEscape(args[0])+"/"+url.PathEscape(args[1])+"/users"+q)
		},
	}
	cmd.Flags().StringVar(&addr, "http", "127.0.0.1:8080", "HTTP address of a Strata node")
	cmd.Flags().IntVar(&limit, "limit", 100, "members per page (1..1000)")
	cmd.Flags().StringVar(&cursor, "cursor", "", "next_cursor of the previous page")
	return cmd
}
