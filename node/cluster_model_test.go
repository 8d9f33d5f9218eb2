package node_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
)

// httpSend makes a request with a body on one member's HTTP API.
func httpSend(t *testing.T, m member, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+m.node.HTTPAddr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A model change on a 3-node cluster: asked of any node, it reaches every
// replica through the control group and the shards' logs; every replica
// ends with the same state (I5), every node answers with the new tiers, and
// the published transitions stay gap-free per user (I3).
func TestClusterModelChange(t *testing.T) {
	h := newClusterHarness(t, 3, func(_ string, c *node.Config) {
		c.Cluster.SweepBatch = 4
	})
	h.waitSettled(3)
	users := make([]string, 30)
	for i := range users {
		users[i] = fmt.Sprintf("c%02d", i)
		if err := h.publish(users[i], event("a"+users[i], users[i], "purchase", t0, float64(1000*(i+1)))); err != nil {
			t.Fatal(err)
		}
	}
	n1, n2, n3 := *h.member("n1"), *h.member("n2"), *h.member("n3")
	if s, body := httpSend(t, n3, http.MethodPost, "/v1/model/shadow?file=ladder.hcl", ladderModel(1, 15000)); s != http.StatusOK {
		t.Fatalf("shadow through n3: %d %s", s, body)
	}
	eventually(t, "the shadow complete on every shard", func() bool {
		var rep node.ShadowReport
		s, body := httpSend(t, n2, http.MethodGet, "/v1/model/shadow", "")
		return s == http.StatusOK && json.Unmarshal([]byte(body), &rep) == nil && rep.Complete && rep.Tiers["value"]["whale"] > 0
	})
	if s, body := httpSend(t, n1, http.MethodPost, "/v1/model/promote?mode=emit", ""); s != http.StatusOK {
		t.Fatalf("promote through n1: %d %s", s, body)
	}
	eventually(t, "every shard on ladder@v1, swept", func() bool {
		st, err := n2.node.Cluster().ModelsStatus(t.Context())
		if err != nil || st.Plan.ActiveID() != "ladder@v1" {
			return false
		}
		for _, s := range st.Shards {
			if s.Generation != st.Plan.Generation || s.Sweeping {
				return false
			}
		}
		return true
	})
	for i, u := range users {
		if err := h.publish(u, event("b"+u, u, "login", t0, 0)); err != nil {
			t.Fatal(err)
		}
		want := "long_tail"
		if 1000*(i+1) >= 15000 {
			want = "whale"
		}
		for _, m := range h.live() {
			eventually(t, u+" on "+m.id, func() bool {
				v, code, err := httpUser(m, u, "strong")
				return err == nil && code == http.StatusOK && v.Events == 2 && v.Model == "ladder@v1" && v.Tiers["value"] == want
			})
		}
	}
	h.checkConverged()
	h.trans.waitUntil(t, "every user's activity placement", func(_ []jetstream.Msg) bool {
		last := h.checkSeqs()
		for _, u := range users {
			if last[userDim{u, "activity"}].Model != "ladder@v1" {
				return false
			}
		}
		return true
	})
	if st := n3.node.Cluster().ModelPlan(); st.Candidate != nil || st.Mode != cluster.ModeEmit {
		t.Errorf("plan on n3: %+v", st)
	}
}
