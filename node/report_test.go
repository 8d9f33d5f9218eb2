package node_test

import (
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/strata-io/strata/cluster"
)

// The model report over the built-in model: tier sizes add up, value tiers
// are homogeneous and separated in monetary_365d, the top 20% of users hold
// the expected share of the money, and transitions are counted per hour.
func TestModelReport(t *testing.T) {
	h := newHarness(t)
	// 50 users: 40 spend 100 each, 10 spend 20 000 each (the top 20% hold
	// 200 000 of 204 000).
	for i := range 50 {
		user := fmt.Sprintf("r%02d", i)
		amount := 100.0
		if i < 10 {
			amount = 20000
		}
		h.publish(user, event("o"+user, user, "purchase", t0.Add(-time.Hour), amount))
	}
	for i := range 50 {
		h.waitEvents(fmt.Sprintf("r%02d", i), 1)
	}
	var rep cluster.ModelReport
	if s := h.getJSON("/v1/model/report", &rep); s != http.StatusOK {
		t.Fatalf("report: %d", s)
	}
	if rep.Model != "default@v1" || rep.Users != 50 || rep.Sampled != 50 {
		t.Fatalf("report of %s over %d/%d users", rep.Model, rep.Sampled, rep.Users)
	}
	value := rep.Dimensions["value"]
	if value == nil || value.Tiers["long_tail"].Users != 40 || value.Tiers["high_potential"].Users != 10 {
		t.Fatalf("value tiers %+v", value)
	}
	if got := value.Tiers["high_potential"].Scores["monetary_365d"].Mean; got != 20000 {
		t.Errorf("high_potential mean spend %v", got)
	}
	if h := value.Homogeneity["monetary_365d"]; h != 1 {
		t.Errorf("homogeneity %v: each tier holds one amount, want 1", h)
	}
	if sep := value.Separation["monetary_365d"]; sep == nil || sep.Min <= 1 {
		t.Errorf("separation %+v", sep)
	}
	if share := rep.ValueConcentration.Top20Share; math.Abs(share-200000.0/204000) > 0.02 {
		t.Errorf("top 20%% share %v, want about %v", share, 200000.0/204000)
	}
	if value.TransitionsThisHour != 50 {
		t.Errorf("value transitions this hour %d, want 50 first placements", value.TransitionsThisHour)
	}
	var small cluster.ModelReport
	if s := h.getJSON("/v1/model/report?sample=8", &small); s != http.StatusOK || small.Sampled > 8 || small.Sampled == 0 {
		t.Errorf("sample=8: %d, %d sampled", s, small.Sampled)
	}
	if s := h.getJSON("/v1/model/report?sample=-1", nil); s != http.StatusBadRequest {
		t.Errorf("a negative sample: %d", s)
	}
}
