package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/cluster/clocktest"
	"github.com/strata-io/strata/node"
)

// t0 is the fake clock's start in every end-to-end test.
var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

const waitFor = 20 * time.Second // upper bound for anything to happen; tests wait on events, not time

// harness runs one real node: embedded NATS with JetStream, Pebble on disk,
// hashicorp/raft shards, driven by a fake clock.
type harness struct {
	t     testing.TB
	dir   string
	clock *clocktest.Clock
	node  *node.Node
	nc    *nats.Conn
	js    jetstream.JetStream
	trans *collector
	tune  func(*node.Config) // adjusts the config before each start
}

func newHarness(t testing.TB) *harness { return newHarnessWith(t, nil) }

// newHarnessWith starts a node whose config tune adjusts (on every start).
func newHarnessWith(t testing.TB, tune func(*node.Config)) *harness {
	h := &harness{t: t, dir: t.TempDir(), clock: clocktest.New(t0), tune: tune}
	h.start()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) config() node.Config {
	cfg := node.DefaultConfig()
	cfg.DataDir = h.dir
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.NATSListen = "127.0.0.1:0"
	cfg.Shards = 4
	cfg.Clock = h.clock
	cfg.Cluster.TickInterval = 10 * time.Millisecond
	cfg.Cluster.TrimInterval = 10 * time.Millisecond
	cfg.Cluster.ElectionTimeout = 100 * time.Millisecond
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "strata", Level: hclog.Warn, Output: testWriter(h.t)})
	if h.tune != nil {
		h.tune(&cfg)
	}
	return cfg
}

// start (re)starts the node on the harness's data dir and waits until ready.
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	n, err := node.Start(ctx, h.config())
	if err != nil {
		h.t.Fatalf("start node: %v", err)
	}
	h.node = n
	if err := n.WaitReady(ctx); err != nil {
		h.t.Fatal(err)
	}
	if h.nc, err = nats.Connect(n.NATSURL()); err != nil {
		h.t.Fatal(err)
	}
	// Async publishes pending when the node stops must fail, not hang.
	if h.js, err = jetstream.New(h.nc, jetstream.WithPublishAsyncTimeout(3*time.Second)); err != nil {
		h.t.Fatal(err)
	}
	h.trans = collect(h.t, h.js, cluster.TransitionsStream)
}

// stop closes the client and the node (clean shutdown).
func (h *harness) stop() {
	if h.trans != nil {
		h.trans.stop()
		h.trans = nil
	}
	if h.nc != nil {
		h.nc.Close()
		h.nc = nil
	}
	if h.node != nil {
		if err := h.node.Close(); err != nil {
			h.t.Errorf("close node: %v", err)
		}
		h.node = nil
	}
}

func (h *harness) restart() {
	h.stop()
	h.start()
}

// event builds an event JSON at offset d from the fake clock's start.
func event(id, user, typ string, ts time.Time, amount float64) []byte {
	m := map[string]any{"id": id, "user": user, "type": typ, "ts": ts.UTC().Format(time.RFC3339Nano)}
	if amount != 0 {
		m["amount"] = amount
	}
	b, _ := json.Marshal(m)
	return b
}

// publish sends one event through JetStream and waits for the stream's ack.
func (h *harness) publish(user string, data []byte) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := h.js.Publish(ctx, cluster.EventsPrefix+user, data); err != nil {
		h.t.Fatalf("publish: %v", err)
	}
}

// getJSON GETs a path of the HTTP API and decodes the body into v; returns the status.
func (h *harness) getJSON(path string, v any) int {
	h.t.Helper()
	resp, err := http.Get("http://" + h.node.HTTPAddr() + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			h.t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return resp.StatusCode
}

// user reads a user through the HTTP API, failing on anything but 200.
func (h *harness) user(id string) cluster.UserView {
	h.t.Helper()
	var v cluster.UserView
	if s := h.getJSON("/v1/users/"+id, &v); s != http.StatusOK {
		h.t.Fatalf("GET user %s: status %d", id, s)
	}
	return v
}

// collector gathers every message of a stream from its start.
type collector struct {
	js     jetstream.JetStream
	stream string
	mu     sync.Mutex
	msgs   []jetstream.Msg
	grew   chan struct{}
	cc     jetstream.ConsumeContext
	stopO  sync.Once
}

func collect(t testing.TB, js jetstream.JetStream, stream string) *collector {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{js: js, stream: stream, grew: make(chan struct{}, 1)}
	c.cc, err = cons.Consume(func(m jetstream.Msg) {
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
		select {
		case c.grew <- struct{}{}:
		default:
		}
	}, jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second)) // recovers within ~2 s when its NATS server goes away
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *collector) stop() { c.stopO.Do(c.cc.Stop) }

// waitUntil calls pred over the messages so far each time they grow, until it
// returns true or the deadline passes.
func (c *collector) waitUntil(t testing.TB, what string, pred func([]jetstream.Msg) bool) []jetstream.Msg {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		msgs := append([]jetstream.Msg(nil), c.msgs...)
		c.mu.Unlock()
		if pred(msgs) {
			return msgs
		}
		select {
		case <-c.grew:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s (%d messages collected; %s)", what, len(msgs), c.streamState())
		}
	}
}

// streamState describes the stream the collector reads, for failure messages:
// it tells a stalled collector from messages never published.
func (c *collector) streamState() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.js.Stream(ctx, c.stream)
	if err != nil {
		return fmt.Sprintf("stream %s: %v", c.stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Sprintf("stream %s: %v", c.stream, err)
	}
	return fmt.Sprintf("stream %s holds %d messages, last seq %d", c.stream, info.State.Msgs, info.State.LastSeq)
}

// transitions decodes the collected transitions.
func transitions(t testing.TB, msgs []jetstream.Msg) []cluster.TransitionMessage {
	out := make([]cluster.TransitionMessage, 0, len(msgs))
	for _, m := range msgs {
		var tm cluster.TransitionMessage
		if err := json.Unmarshal(m.Data(), &tm); err != nil {
			t.Fatalf("transition %q: %v", m.Data(), err)
		}
		if want := fmt.Sprintf("%s:%s:%d", tm.User, tm.Dimension, tm.Seq); m.Headers().Get(jetstream.MsgIDHeader) != want {
			t.Fatalf("Nats-Msg-Id %q, want %q", m.Headers().Get(jetstream.MsgIDHeader), want)
		}
		out = append(out, tm)
	}
	return out
}

// waitTransition waits until user has moved from tier `from` to `to` in
// dimension dim and returns the latest such transition.
func (h *harness) waitTransition(user, dim, from, to string) cluster.TransitionMessage {
	h.t.Helper()
	var found cluster.TransitionMessage
	h.trans.waitUntil(h.t, user+" "+dim+" "+from+"→"+to, func(msgs []jetstream.Msg) bool {
		ok := false
		for _, tm := range transitions(h.t, msgs) {
			if tm.User == user && tm.Dimension == dim && tm.From == from && tm.To == to {
				found, ok = tm, true
			}
		}
		return ok
	})
	return found
}

// eventually re-checks cond every 5 ms until it holds, failing the test
// after waitFor. For state only visible by asking (HTTP reads, a child
// process); streams are waited on with collector.waitUntil.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	eventually(h.t, what, cond)
}

// waitEvents waits until user has n applied events.
func (h *harness) waitEvents(user string, n uint64) {
	h.t.Helper()
	var v cluster.UserView
	code := 0
	deadline := time.Now().Add(waitFor)
	for {
		v = cluster.UserView{}
		if code = h.getJSON("/v1/users/"+user, &v); code == http.StatusOK && v.Events == n {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond) // polling an HTTP read
	}
	var cursors []string
	for _, s := range h.node.Cluster().Shards() {
		cursors = append(cursors, fmt.Sprintf("%d:%d", s.ID(), s.FSM().Meta().Cursor))
	}
	events := &collector{js: h.js, stream: cluster.EventsStream}
	dlq := &collector{js: h.js, stream: cluster.DLQStream}
	h.t.Fatalf("timed out waiting for %s to have %d events: HTTP %d, %d events; shard cursors %v; %s; %s; %s",
		user, n, code, v.Events, cursors, events.streamState(), dlq.streamState(), h.streamedEvents(user))
}

// streamedEvents lists, for failure messages, the stream sequences and event
// IDs STRATA_EVENTS holds for user, and which IDs the user's shard has in its
// dedupe set.
func (h *harness) streamedEvents(user string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := h.js.OrderedConsumer(ctx, cluster.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"strata.part.*." + user}})
	if err != nil {
		return fmt.Sprintf("listing %s's events: %v", user, err)
	}
	shard := h.node.DB().Shard(uint16(cluster.ShardOf(user, h.node.Cluster().NumShards())))
	var b strings.Builder
	fmt.Fprintf(&b, "%s's events in the stream (seq:id, * = not in the dedupe set):", user)
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(300 * time.Millisecond))
		if err != nil {
			break
		}
		md, _ := m.Metadata()
		var ev struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(m.Data(), &ev)
		mark := ""
		if ok, err := shard.HasEvent(user, ev.ID); err != nil || !ok {
			mark = "*"
		}
		fmt.Fprintf(&b, " %d:%s%s", md.Sequence.Stream, ev.ID, mark)
	}
	return b.String()
}

// path returns a user's transitions in one dimension, in stream order.
func (h *harness) path(user, dim string) []cluster.TransitionMessage {
	h.trans.mu.Lock()
	msgs := append([]jetstream.Msg(nil), h.trans.msgs...)
	h.trans.mu.Unlock()
	var out []cluster.TransitionMessage
	for _, tm := range transitions(h.t, msgs) {
		if tm.User == user && tm.Dimension == dim {
			out = append(out, tm)
		}
	}
	return out
}

// checkSeqs verifies invariant I3 over everything collected: per user and
// dimension, seq runs 1,2,3… with no gap or duplicate, and each from is the
// previous to. It returns the number of transitions.
func (h *harness) checkSeqs() int {
	h.t.Helper()
	h.trans.mu.Lock()
	msgs := append([]jetstream.Msg(nil), h.trans.msgs...)
	h.trans.mu.Unlock()
	checkSeqs(h.t, msgs)
	return len(msgs)
}

type userDim struct{ user, dim string }

// checkSeqs checks I3 over a stream's transitions and returns the last
// transition per user and dimension.
func checkSeqs(t testing.TB, msgs []jetstream.Msg) map[userDim]cluster.TransitionMessage {
	t.Helper()
	last := map[userDim]cluster.TransitionMessage{}
	for _, tm := range transitions(t, msgs) {
		k := userDim{tm.User, tm.Dimension}
		prev, ok := last[k]
		switch {
		case !ok && (tm.Seq != 1 || tm.From != ""):
			t.Fatalf("%s/%s first transition seq %d from %q", tm.User, tm.Dimension, tm.Seq, tm.From)
		case ok && tm.Seq != prev.Seq+1:
			t.Fatalf("%s/%s seq %d after %d", tm.User, tm.Dimension, tm.Seq, prev.Seq)
		case ok && tm.From != prev.To:
			t.Fatalf("%s/%s seq %d from %q, previous to %q", tm.User, tm.Dimension, tm.Seq, tm.From, prev.To)
		}
		last[k] = tm
	}
	return last
}

// metrics returns the /metrics text.
func (h *harness) metrics() string {
	h.t.Helper()
	resp, err := http.Get("http://" + h.node.HTTPAddr() + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func decodeBody(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
