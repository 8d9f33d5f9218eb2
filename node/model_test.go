package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
)

// ladderModel is a model file: a value ladder with whales from whale
// (units) and an activity dimension.
func ladderModel(version, whale int) string {
	return fmt.Sprintf(`model "ladder" {
  version = %d
  dimension "value" {
    tier "whale"     { when = "scores.monetary_365d >= %d.0" }
    tier "long_tail" { when = "scores.monetary_365d > 0.0" }
    tier "none"      { when = "true" }
  }
  dimension "activity" {
    tier "busy"  { when = "scores.active_days_7 >= 2" }
    tier "quiet" { when = "true" }
  }
}
`, version, whale)
}

// send makes an HTTP request with a body and decodes the JSON answer into v.
func (h *harness) send(method, path, body string, v any) int {
	h.t.Helper()
	req, err := http.NewRequest(method, "http://"+h.node.HTTPAddr()+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			h.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// waitModels waits until every shard follows the plan's generation and has
// moved every user.
func (h *harness) waitModels() cluster.ModelStatus {
	h.t.Helper()
	var st cluster.ModelStatus
	h.eventually("every shard on the model plan", func() bool {
		st = cluster.ModelStatus{}
		if h.getJSON("/v1/model", &st) != http.StatusOK {
			return false
		}
		for _, s := range st.Shards {
			if s.Generation != st.Plan.Generation || s.Sweeping {
				return false
			}
		}
		return true
	})
	return st
}

// trafficWriter publishes events for a fixed set of users until stopped and
// counts what JetStream acknowledged per user.
type trafficWriter struct {
	h     *harness
	users []string
	stop  chan struct{}
	done  sync.WaitGroup
	mu    sync.Mutex
	acked map[string]uint64
	spent map[string]float64 // purchase amounts acknowledged
	n     int
}

func startTraffic(h *harness, users []string) *trafficWriter {
	w := &trafficWriter{h: h, users: users, stop: make(chan struct{}), acked: map[string]uint64{}, spent: map[string]float64{}}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			w.one(i)
		}
	}()
	return w
}

func (w *trafficWriter) one(i int) {
	user := w.users[i%len(w.users)]
	typ, amount := "login", 0.0
	if i%3 == 0 {
		typ, amount = "purchase", float64(1000*(1+i%7))
	}
	id := fmt.Sprintf("t%d", i)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	// Events spread over the last days, so activity tiers move too.
	ts := t0.Add(-time.Duration(i%5) * 24 * time.Hour)
	if _, err := w.h.js.Publish(ctx, cluster.EventsPrefix+user, event(id, user, typ, ts, amount)); err != nil {
		return // not acknowledged: not counted
	}
	w.mu.Lock()
	w.acked[user]++
	w.spent[user] += amount
	w.n++
	w.mu.Unlock()
}

// finish stops the writer and waits until every acknowledged event is applied.
func (w *trafficWriter) finish() {
	close(w.stop)
	w.done.Wait()
	for _, u := range w.users {
		w.h.waitEvents(u, w.acked[u])
	}
}

// published returns everything collected on STRATA_TRANSITIONS so far.
func (h *harness) published() []cluster.TransitionMessage {
	h.trans.mu.Lock()
	msgs := append([]jetstream.Msg(nil), h.trans.msgs...)
	h.trans.mu.Unlock()
	return transitions(h.t, msgs)
}

// TestModelChangesUnderTraffic: a bad model is refused and changes nothing;
// a candidate runs in shadow (publishing nothing) and reports the moves it
// would make; its promotion under live traffic loses and duplicates no
// transition; tier members are listed page by page.
func TestModelChangesUnderTraffic(t *testing.T) {
	h := newHarnessWith(t, func(c *node.Config) {
		c.Cluster.SweepBatch = 5
		c.Cluster.SweepInterval = 5 * time.Millisecond
	})
	users := make([]string, 24)
	for i := range users {
		users[i] = fmt.Sprintf("m%02d", i)
	}
	w := startTraffic(h, users)
	h.eventually("some traffic applied", func() bool {
		var tiers node.TiersResponse
		h.getJSON("/v1/tiers", &tiers)
		var n int64
		for _, c := range tiers.Tiers["value"] {
			n += c
		}
		return n == int64(len(users))
	})

	// A bad model: every problem comes back with its position; nothing changes.
	bad := strings.Replace(ladderModel(1, 5000), "scores.monetary_365d >= 5000.0", "scores.monetary_366d >= 5000.0", 1)
	bad = strings.Replace(bad, `tier "none"      { when = "true" }`, `tier "none"      { when = "1.0" }`, 1)
	var problem node.ModelProblemResponse
	if s := h.send(http.MethodPut, "/v1/model?file=bad.hcl", bad, &problem); s != http.StatusBadRequest {
		t.Fatalf("PUT a bad model: %d %+v", s, problem)
	}
	if len(problem.Problems) != 2 || !strings.HasPrefix(problem.Problems[0], "bad.hcl:4:") || !strings.Contains(problem.Problems[0], "monetary_366d") ||
		!strings.HasPrefix(problem.Problems[1], "bad.hcl:6:") {
		t.Errorf("problems %q", problem.Problems)
	}
	if st := h.waitModels(); st.Plan.Generation != 0 || st.Plan.ActiveID() != "default@v1" {
		t.Fatalf("a refused model changed the plan: %+v", st.Plan)
	}
	if s := h.send(http.MethodPut, "/v1/model", " \n", nil); s != http.StatusBadRequest {
		t.Errorf("PUT an empty body: %d", s)
	}
	if s := h.send(http.MethodPost, "/v1/model/promote", "", nil); s != http.StatusConflict {
		t.Errorf("promote without a shadow: %d", s)
	}

	// Shadow: ladder@v1 evaluates every user and publishes nothing.
	shadowFrom := len(h.published())
	var plan cluster.ModelPlan
	if s := h.send(http.MethodPost, "/v1/model/shadow?file=ladder.hcl", ladderModel(1, 5000), &plan); s != http.StatusOK {
		t.Fatalf("POST shadow: %d", s)
	}
	if plan.Candidate == nil || plan.Candidate.ID != "ladder@v1" || plan.ActiveID() != "default@v1" {
		t.Fatalf("plan after shadow %+v", plan)
	}
	if s := h.send(http.MethodPost, "/v1/model/shadow?file=ladder.hcl", ladderModel(1, 5000), nil); s != http.StatusConflict {
		t.Errorf("the same version again: %d, want 409", s)
	}
	h.waitModels()
	var rep node.ShadowReport
	h.eventually("a complete shadow report", func() bool {
		return h.getJSON("/v1/model/shadow", &rep) == http.StatusOK && rep.Complete
	})
	var shadowUsers int64
	for _, n := range rep.Tiers["value"] {
		shadowUsers += n
	}
	if rep.Shadow != "ladder@v1" || shadowUsers != int64(len(users)) || len(rep.Moves["activity"]) == 0 {
		t.Errorf("shadow report %+v", rep)
	}
	for _, tm := range h.published()[shadowFrom:] {
		if tm.Model != "default@v1" || tm.Cause == cluster.CauseModel {
			t.Fatalf("published while only in shadow: %+v", tm)
		}
	}

	// Promote under traffic, emitting the moves.
	plan = cluster.ModelPlan{}
	if s := h.send(http.MethodPost, "/v1/model/promote?mode=emit", "", &plan); s != http.StatusOK {
		t.Fatalf("promote: %d", s)
	}
	if plan.ActiveID() != "ladder@v1" || plan.Candidate != nil {
		t.Fatalf("plan after promote %+v", plan)
	}
	h.waitModels()
	w.finish()

	// Every user ends under ladder@v1 in the tiers its spend gives, and its
	// published path ends there: no transition lost or duplicated (I3).
	h.trans.waitUntil(t, "the last transitions", func(msgs []jetstream.Msg) bool {
		last := checkSeqs(t, msgs)
		for _, u := range users {
			v := h.user(u)
			for dim, tier := range v.Tiers {
				if last[userDim{u, dim}].To != tier {
					return false
				}
			}
		}
		return true
	})
	var whales []string
	for _, u := range users {
		v := h.user(u)
		if v.Model != "ladder@v1" {
			t.Errorf("%s under %s", u, v.Model)
		}
		want := "long_tail"
		if w.spent[u] >= 5000 {
			want = "whale"
			whales = append(whales, u)
		} else if w.spent[u] == 0 {
			want = "none"
		}
		if v.Tiers["value"] != want {
			t.Errorf("%s spent %v: value tier %q, want %q", u, w.spent[u], v.Tiers["value"], want)
		}
	}
	afterPromotion := false
	for _, tm := range h.published() {
		if tm.Cause == cluster.CauseModel {
			afterPromotion = true
			if tm.Model != "ladder@v1" {
				t.Errorf("model transition under %s: %+v", tm.Model, tm)
			}
		} else if afterPromotion && tm.Model == "default@v1" && tm.Dimension == "activity" {
			t.Errorf("default@v1 has no activity dimension: %+v", tm)
		}
	}
	if !afterPromotion {
		t.Error("the promotion emitted no transition")
	}

	// Members of value/whale, two per page.
	var listed []string
	cursor := ""
	for page := 0; ; page++ {
		var m node.MembersResponse
		path := "/v1/tiers/value/whale/users?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		if s := h.getJSON(path, &m); s != http.StatusOK {
			t.Fatalf("GET %s: %d", path, s)
		}
		listed = append(listed, m.Users...)
		if m.NextCursor == "" {
			break
		}
		cursor = m.NextCursor
		if page > len(users) {
			t.Fatal("the listing does not end")
		}
	}
	slices.Sort(whales)
	if !slices.Equal(listed, whales) {
		t.Errorf("listed whales %v, want %v", listed, whales)
	}
	var tiers node.TiersResponse
	h.getJSON("/v1/tiers", &tiers)
	if tiers.Model != "ladder@v1" || tiers.Tiers["value"]["whale"] != int64(len(whales)) {
		t.Errorf("tiers %+v, %d whales", tiers, len(whales))
	}
	if s := h.getJSON("/v1/tiers/value/platinum/users", nil); s != http.StatusNotFound {
		t.Errorf("an unknown tier: %d", s)
	}
	if s := h.getJSON("/v1/tiers/value/whale/users?cursor=*bad*", nil); s != http.StatusBadRequest {
		t.Errorf("a bad cursor: %d", s)
	}
}
