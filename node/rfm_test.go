package node_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
)

// RFM end to end: the shards' sketches are merged into population edges,
// the edges reach every shard through Raft, and the rfm-segments example
// places each kind of customer in its segment, visible through the API.
func TestRFMSegments(t *testing.T) {
	h := newHarnessWith(t, func(c *node.Config) {
		c.Cluster.RFMInterval = 20 * time.Millisecond
		c.Cluster.SweepInterval = 5 * time.Millisecond
	})
	src, err := os.ReadFile(filepath.Join("..", "examples", "rfm-segments.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if s := h.send(http.MethodPut, "/v1/model?file=rfm-segments.hcl", string(src), nil); s != http.StatusOK {
		t.Fatalf("PUT rfm-segments: %d", s)
	}
	h.waitModels()

	// 40 buyers spread over recency, frequency and spend, plus the profiles
	// the test follows.
	type buyer struct {
		user    string
		orders  int
		daysAgo int // of the latest order
		amount  float64
	}
	buyers := []buyer{
		{"champ", 12, 0, 900},
		{"lapsed", 1, 340, 5},
		{"fresh", 1, 0, 20},
	}
	for i := range 40 {
		buyers = append(buyers, buyer{fmt.Sprintf("b%02d", i), 1 + i%6, (i * 37) % 300, float64(10 + (i*53)%500)})
	}
	n := 0
	for _, b := range buyers {
		for k := range b.orders {
			ts := t0.Add(-time.Duration(b.daysAgo+k) * 24 * time.Hour)
			h.publish(b.user, event(fmt.Sprintf("o%d", n), b.user, "purchase", ts, b.amount))
			n++
		}
	}
	h.publish("window", event("v1", "window", "view", t0, 0))
	for _, b := range buyers {
		h.waitEvents(b.user, uint64(b.orders))
	}
	h.waitEvents("window", 1)

	// Wait for edges over every buyer, carried into every shard and swept.
	h.eventually("RFM edges over every buyer on every shard", func() bool {
		var st cluster.ModelStatus
		if h.getJSON("/v1/model", &st) != http.StatusOK {
			return false
		}
		ctrl := h.node.Cluster().Control().RFM
		if ctrl.Edges.Buyers != int64(len(buyers)) {
			return false
		}
		for _, s := range st.Shards {
			if s.RFMGeneration != ctrl.Generation || s.Sweeping {
				return false
			}
		}
		return true
	})
	for user, want := range map[string]string{"champ": "champions", "lapsed": "lost", "fresh": "new_customers", "window": "prospect"} {
		v := h.user(user)
		if v.Tiers["rfm"] != want {
			t.Errorf("%s: segment %q (rfm %+v), want %q", user, v.Tiers["rfm"], v.RFM, want)
		}
	}
	if v := h.user("champ"); v.RFM == nil || v.RFM.Recency != 5 || v.RFM.Frequency != 5 || v.RFM.Monetary != 5 {
		t.Errorf("champ's rfm %+v, want 5/5/5", v.RFM)
	}
	// Every segment change was published once, in order (I3).
	h.trans.waitUntil(t, "the champion's segment published", func(msgs []jetstream.Msg) bool {
		last := checkSeqs(t, msgs)
		return last[userDim{"champ", "rfm"}].To == "champions"
	})
}
