package node_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
)

// Three nodes form a cluster: every shard on all three, leaders spread,
// any node answers for any user, strong reads see every applied event.
func TestClusterFormation(t *testing.T) {
	h := newClusterHarness(t, 3, nil)
	st := h.waitSettled(3)
	leads := map[string]int{}
	for _, g := range st.Groups {
		seen := map[string]bool{}
		for _, id := range g.Placement {
			if seen[id] {
				t.Fatalf("shard %d placed twice on %s", g.Shard, id)
			}
			seen[id] = true
		}
		leads[g.Leader]++
	}
	// 4 shards on 3 nodes: leaders balance to 2/1/1 (preferred leaders).
	eventually(t, "leaders balanced", func() bool {
		st, err := h.status()
		if err != nil {
			return false
		}
		leads = map[string]int{}
		for _, g := range st.Groups {
			leads[g.Leader]++
		}
		for _, id := range []string{"n1", "n2", "n3"} {
			if leads[id] < 1 || leads[id] > 2 {
				return false
			}
		}
		return true
	})
	for i := range 20 {
		u := fmt.Sprintf("u%d", i)
		if err := h.publish(u, event("e"+u, u, "purchase", t0, 60000)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range h.live() {
		for i := range 20 {
			u := fmt.Sprintf("u%d", i)
			var v cluster.UserView
			eventually(t, "strong read of "+u+" on "+m.id, func() bool {
				var code int
				var err error
				v, code, err = httpUser(m, u, "strong")
				if code == http.StatusServiceUnavailable {
					return false // a leadership transfer (balancing) in progress: clients retry
				}
				if err != nil || code != http.StatusOK || v.Events != 1 || v.Tiers["value"] != "whale" {
					t.Fatalf("strong read %s on %s: %d %v %+v", u, m.id, code, err, v)
				}
				return true
			})
			if v.Consistency != "strong" || v.AppliedIndex == 0 {
				t.Fatalf("strong read %s: consistency %q applied %d", u, v.Consistency, v.AppliedIndex)
			}
		}
		// Stale reads come from the local replica once it has applied.
		eventually(t, "stale read on "+m.id, func() bool {
			v, code, _ := httpUser(m, "u7", "")
			return code == http.StatusOK && v.Node == m.id && v.Events == 1
		})
	}
	h.trans.waitUntil(t, "20 whale transitions", func(msgs []jetstream.Msg) bool {
		n := 0
		for _, tm := range transitions(t, msgs) {
			if tm.Dimension == "value" && tm.To == "whale" {
				n++
			}
		}
		return n == 20
	})
	h.checkSeqs()

	// GET /v1/cluster from any node: the control leader's view.
	for _, m := range h.live() {
		resp, err := http.Get("http://" + m.node.HTTPAddr() + "/v1/cluster")
		if err != nil {
			t.Fatal(err)
		}
		var st cluster.Status
		if err := decodeBody(resp, &st); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/cluster via %s: %d %v", m.id, resp.StatusCode, err)
		}
		if len(st.Nodes) != 3 || len(st.Groups) != 4 || st.ControlLeader == "" || settled(&st, 3, false) != nil {
			t.Fatalf("GET /v1/cluster via %s: %+v", m.id, st)
		}
		for _, n := range st.Nodes {
			if !n.Alive || n.Status != cluster.NodeActive || n.Replicas != 4 || n.HTTPAddr == "" {
				t.Fatalf("node %+v", n)
			}
		}
	}
	// Bad consistency values are refused.
	if _, code, _ := httpUser(h.live()[0], "u1", "linearizable"); code != http.StatusBadRequest {
		t.Fatalf("consistency=linearizable: status %d, want 400", code)
	}
}
