package node_test

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
)

// A model file given at start (--model) becomes the cluster's model; its
// hysteresis keeps a user oscillating around a threshold from flapping, its
// dwell ends by timer at the exact instant, and a restart with another file
// switches models (attributes reach its rules) while a restart with the same
// file changes nothing.
func TestModelFileAtStart(t *testing.T) {
	file := "edu-value.hcl"
	h := newHarnessWith(t, func(c *node.Config) {
		p, err := filepath.Abs(filepath.Join("..", "examples", file))
		if err != nil {
			t.Fatal(err)
		}
		c.ModelFile = p
	})
	st := h.waitActive("edu-value@v1")
	if st.Plan.Mode != cluster.ModeEmit {
		t.Fatalf("plan after start with --model: %+v", st.Plan)
	}

	// Oscillating around 50 000: whale once, never back and forth (the exit
	// rule is below 45 000).
	spend := []struct {
		typ    string
		amount float64
	}{{"purchase", 52000}, {"refund", 3000}, {"purchase", 2000}, {"refund", 2500}, {"purchase", 2500}, {"refund", 3000}}
	for i, s := range spend {
		h.publish("osc", event("o"+string(rune('a'+i)), "osc", s.typ, t0, s.amount))
	}
	h.waitEvents("osc", uint64(len(spend)))
	if v := h.user("osc"); v.Tiers["value"] != "whale" || v.Scores.Monetary365d != 48000 {
		t.Fatalf("osc: %+v", v)
	}
	h.waitTransition("osc", "value", "", "whale")

	// Dwell: high_potential holds for 30 days after a refund drops the
	// spend to long-tail, then the timer moves the user at the exact instant.
	h.publish("dw", event("d1", "dw", "purchase", t0, 12000))
	h.waitTransition("dw", "value", "", "high_potential")
	h.publish("dw", event("d2", "dw", "refund", t0, 11000))
	h.waitEvents("dw", 2)
	h.advanceTo(t0.Add(30*day + time.Second))
	h.expectTimer("dw", "value", "high_potential", "long_tail", t0.Add(30*day))

	// Restart with another model file: the cluster switches to it.
	file = "membership.hcl"
	h.restart()
	st = h.waitActive("membership@v1")
	gen := st.Plan.Generation
	h.publish("ent", []byte(`{"id":"p1","user":"ent","type":"profile","ts":"`+h.clock.Now().UTC().Format(time.RFC3339)+`","props":{"plan":"enterprise"}}`))
	if tm := h.waitTransition("ent", "membership", "", "gold"); tm.Model != "membership@v1" || tm.Cause != "p1" {
		t.Errorf("enterprise member: %+v", tm)
	}
	// osc moved to the new model: its membership tier was published with
	// cause "model" (emit), its seqs keep going.
	if tm := h.waitTransition("osc", "membership", "", "regular"); tm.Cause != cluster.CauseModel {
		t.Errorf("osc's membership placement: %+v", tm)
	}
	// Published after osc's value moves by the same shard, in order: every
	// value move of osc is in by now.
	if path := h.path("osc", "value"); len(path) != 1 || path[0].To != "whale" {
		t.Errorf("value path %+v: want one move, to whale", path)
	}
	h.checkSeqs()

	// The same file again: nothing changes.
	h.restart()
	if st := h.waitModels(); st.Plan.Generation != gen {
		t.Errorf("restart with the active model's file moved the plan from %d to %d", gen, st.Plan.Generation)
	}
	var ex cluster.ExplainView
	if s := h.getJSON("/v1/users/ent/explain", &ex); s != http.StatusOK || ex.Dimensions[0].Reads["attrs.plan"] != "enterprise" {
		t.Errorf("explain ent: %d %+v", s, ex.Dimensions)
	}
}

// waitActive waits until model id is the active model and every shard has
// moved every user to it.
func (h *harness) waitActive(id string) cluster.ModelStatus {
	h.t.Helper()
	h.eventually(id+" active", func() bool { return h.node.Cluster().ModelPlan().ActiveID() == id })
	return h.waitModels()
}
