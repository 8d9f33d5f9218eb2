package node_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-io/strata/cluster"
)

// Explain end to end: under the edu-value example, a whale whose spend dips
// under the line is explained as held by the exit rule, with the value it
// read, and its last transitions.
func TestExplain(t *testing.T) {
	h := newHarness(t)
	src, err := os.ReadFile(filepath.Join("..", "examples", "edu-value.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if s := h.send(http.MethodPut, "/v1/model?file=edu-value.hcl", string(src), nil); s != http.StatusOK {
		t.Fatalf("PUT edu-value: %d", s)
	}
	h.waitModels()
	h.publish("x1", event("e1", "x1", "purchase", t0.Add(-time.Hour), 52000))
	h.publish("x1", event("e2", "x1", "refund", t0, 5000))
	h.waitEvents("x1", 2)

	var v cluster.ExplainView
	if s := h.getJSON("/v1/users/x1/explain", &v); s != http.StatusOK {
		t.Fatalf("explain: %d", s)
	}
	if v.Model != "edu-value@v1" || len(v.Dimensions) != 2 {
		t.Fatalf("explain %+v", v)
	}
	val := v.Dimensions[0]
	if val.Tier != "whale" || val.Holds || val.Exit == "" || val.Reads["scores.monetary_365d"] != 47000.0 || val.Held == "" {
		t.Errorf("value explained as %+v", val)
	}
	var whale bool
	for _, e := range v.History {
		if e.Dimension == "value" && e.To == "whale" && e.Cause == "e1" && e.Model == "edu-value@v1" {
			whale = true
		}
	}
	if !whale {
		t.Errorf("history %+v lacks the move to whale", v.History)
	}
	if v.CLV <= 0 {
		t.Errorf("clv %v for a buyer", v.CLV)
	}
	if s := h.getJSON("/v1/users/nobody/explain", nil); s != http.StatusNotFound {
		t.Errorf("explain an unknown user: %d", s)
	}
}
