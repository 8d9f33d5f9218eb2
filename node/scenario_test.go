package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
)

// The opening scenario: one purchase of 60 000 makes u42 a new whale.
func TestScenarioWhalePurchase(t *testing.T) {
	h := newHarness(t)
	h.publish("u42", []byte(`{"id":"e1","user":"u42","type":"purchase","ts":"2026-11-20T10:00:00Z","amount":60000}`))

	lc := h.waitTransition("u42", "lifecycle", "", "new")
	val := h.waitTransition("u42", "value", "", "whale")
	risk := h.waitTransition("u42", "risk", "", "normal")
	for _, tm := range []struct {
		got       string
		from, cau string
		seq       uint64
	}{{lc.From, "", lc.Cause, lc.Seq}, {val.From, "", val.Cause, val.Seq}, {risk.From, "", risk.Cause, risk.Seq}} {
		if tm.got != tm.from || tm.cau != "e1" || tm.seq != 1 {
			t.Errorf("first placement: from %q cause %q seq %d, want from \"\" cause e1 seq 1", tm.got, tm.cau, tm.seq)
		}
	}
	if val.Model != "default@v1" || val.Reason == "" || val.Scores.Monetary365d != 60000 {
		t.Errorf("value transition = %+v", val)
	}
	if !val.At.Equal(t0) {
		t.Errorf("at %s, want the entry time %s", val.At, t0)
	}

	v := h.user("u42")
	if v.Tiers["lifecycle"] != "new" || v.Tiers["value"] != "whale" || v.Tiers["risk"] != "normal" {
		t.Errorf("tiers = %v", v.Tiers)
	}
	if v.Events != 1 || v.Scores.Monetary365d != 60000 || v.Scores.Purchases90d != 1 {
		t.Errorf("user = %+v", v)
	}
	if v.FirstSeen == nil || !v.FirstSeen.Equal(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("first_seen = %v", v.FirstSeen)
	}

	var tiers node.TiersResponse
	if s := h.getJSON("/v1/tiers", &tiers); s != http.StatusOK {
		t.Fatalf("GET /v1/tiers: %d", s)
	}
	if tiers.Tiers["value"]["whale"] != 1 || tiers.Tiers["lifecycle"]["new"] != 1 || tiers.Tiers["value"]["none"] != 0 {
		t.Errorf("tier counts = %v", tiers.Tiers)
	}

	var notFound map[string]string
	if s := h.getJSON("/v1/users/nobody", &notFound); s != http.StatusNotFound || notFound["error"] == "" {
		t.Errorf("unknown user: status %d body %v", s, notFound)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		if s := h.getJSON(path, nil); s != want {
			t.Errorf("GET %s = %d, want %d", path, s, want)
		}
	}

	// The same lookup over NATS request-reply (micro service "strata").
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	msg, err := h.nc.RequestWithContext(ctx, node.UserGetSubject, []byte(`{"user":"u42"}`))
	if err != nil {
		t.Fatal(err)
	}
	var viaNATS map[string]any
	if err := json.Unmarshal(msg.Data, &viaNATS); err != nil {
		t.Fatal(err)
	}
	if viaNATS["tiers"].(map[string]any)["value"] != "whale" {
		t.Errorf("NATS lookup = %s", msg.Data)
	}
	msg, err = h.nc.RequestWithContext(ctx, node.UserGetSubject, []byte(`{"user":"nobody"}`))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get(micro.ErrorCodeHeader) != "404" {
		t.Errorf("NATS lookup of unknown user: headers %v", msg.Header)
	}
	for _, bad := range []string{`{"user":"u42"} x`, `{"user":"u42","extra":1}`, `nope`, ``} {
		msg, err = h.nc.RequestWithContext(ctx, node.UserGetSubject, []byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if msg.Header.Get(micro.ErrorCodeHeader) != "400" {
			t.Errorf("NATS lookup %q: headers %v, want error 400", bad, msg.Header)
		}
	}
	h.checkSeqs()
}

// Reads racing with shutdown get ErrClosed, never a panic.
func TestReadsAfterClose(t *testing.T) {
	h := newHarness(t)
	c := h.node.Cluster()
	h.stop()
	if _, err := c.User("u42"); !errors.Is(err, cluster.ErrClosed) {
		t.Errorf("User after close: %v", err)
	}
	if _, err := c.TierCounts(); !errors.Is(err, cluster.ErrClosed) {
		t.Errorf("TierCounts after close: %v", err)
	}
	if err := c.Ready(); !errors.Is(err, cluster.ErrClosed) {
		t.Errorf("Ready after close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
