package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/strata-io/strata/actor"
	"github.com/strata-io/strata/scoring"
	"github.com/strata-io/strata/storage"
)

// Helpers shared by the FSM tests: building FSMs, random logs, applying them
// and an oracle that replays a log through package scoring alone.

const (
	testWindow = 7 * 24 * time.Hour
	testStart  = int64(1_790_000_000_000) // 2026-09-21T13:33:20Z
	testHour   = int64(3_600_000)
)

func testModel(t testing.TB) *scoring.Model {
	t.Helper()
	m, err := scoring.NewModel(scoring.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testFSMConfig(t testing.TB, db *storage.DB) fsmConfig {
	return fsmConfig{
		Shard: 0, DB: db, Model: testModel(t), Actors: actor.DefaultConfig(),
		DedupeWindow: testWindow, Metrics: NewMetrics(nil), Logger: hclog.NewNullLogger(),
	}
}

func newTestFSM(t testing.TB, db *storage.DB) *FSM {
	t.Helper()
	return newTestFSMConfig(t, testFSMConfig(t, db))
}

func newTestFSMConfig(t testing.TB, cfg fsmConfig) *FSM {
	t.Helper()
	f, err := newFSM(cfg)
	if err != nil {
		t.Fatalf("newFSM: %v", err)
	}
	return f
}

func shardHash(t testing.TB, f *FSM) [32]byte {
	t.Helper()
	h, err := f.store.Hash()
	if err != nil {
		t.Fatalf("hash: %v", err)
	}
	return h
}

// checkResponses fails unless every response is nil, except the error
// returned for an undecodable command entry.
func checkResponses(t testing.TB, logs []*raft.Log, resp []any) {
	t.Helper()
	if len(resp) != len(logs) {
		t.Fatalf("ApplyBatch returned %d responses for %d logs", len(resp), len(logs))
	}
	for i, r := range resp {
		if r == nil {
			continue
		}
		err, ok := r.(error)
		if ok && errors.Is(err, ErrSweepBacklog) {
			continue
		}
		if !ok || !errors.Is(err, ErrBadCommand) {
			t.Fatalf("index %d: response %v", logs[i].Index, r)
		}
		if _, derr := decodeCommand(logs[i].Data); derr == nil {
			t.Fatalf("index %d: error %v for a valid entry", logs[i].Index, err)
		}
	}
}

// applyEach applies logs one entry at a time through Apply (raft.FSM).
func applyEach(t testing.TB, f *FSM, logs []*raft.Log) {
	t.Helper()
	for _, l := range logs {
		checkResponses(t, []*raft.Log{l}, []any{f.Apply(l)})
	}
}

// applyChunks applies logs with ApplyBatch in random chunks of 1–maxChunk entries.
func applyChunks(t testing.TB, rng *rand.Rand, f *FSM, logs []*raft.Log, maxChunk int) {
	t.Helper()
	for i := 0; i < len(logs); {
		n := min(1+rng.IntN(maxChunk), len(logs)-i)
		chunk := logs[i : i+n]
		checkResponses(t, chunk, f.ApplyBatch(chunk))
		i += n
	}
}

// ---- Building entries by hand ----

// entryBuilder numbers entries and stream sequences for hand-written logs.
type entryBuilder struct {
	index uint64
	seq   uint64
}

func (b *entryBuilder) log(data []byte) *raft.Log {
	b.index++
	return &raft.Log{Index: b.index, Term: 1, Type: raft.LogCommand, Data: data}
}

// ingest proposes evs at now, giving them the next stream sequences.
func (b *entryBuilder) ingest(now int64, evs ...scoring.Event) *raft.Log {
	in := make([]ingested, len(evs))
	for i, e := range evs {
		b.seq++
		in[i] = ingested{Seq: b.seq, Stored: now, Event: e}
	}
	return b.log(appendIngest(nil, now, 0, b.seq, in))
}

func (b *entryBuilder) tick(now int64) *raft.Log { return b.log(appendTick(nil, now, 0)) }

func (b *entryBuilder) trim(now int64, upTo uint64) *raft.Log {
	return b.log(appendTrim(nil, now, upTo))
}

func ev(user, id, typ string, ts, amount int64) scoring.Event {
	return scoring.Event{ID: id, User: user, Type: typ, TS: ts, Amount: amount}
}

// ---- Random logs ----

// genTypes are the event types of random logs: built-in types (purchases
// and coupons more often) and two custom ones.
var genTypes = []string{
	scoring.TypePurchase, scoring.TypePurchase, scoring.TypePurchase, scoring.TypeRefund,
	scoring.TypeCoupon, scoring.TypeCoupon, scoring.TypeLogin, scoring.TypeLogin, scoring.TypeView,
	scoring.TypeSignup, scoring.TypeInteraction, scoring.TypeTask, scoring.TypeReferral,
	scoring.TypeSupport, scoring.TypeProfile, "level_up", "x-custom",
}

type genOptions struct {
	Users   int  // size of the user pool; default 30
	NoTrims bool // no trim entries
	// Models, if set, adds model plan changes (shadow, promote, activate,
	// discard) among these sources, and sweep steps.
	Models []*ModelSource
}

// logGen generates a random shard log: ingest batches (with duplicate event
// IDs, re-proposed stream sequences and clock skew), ticks moving time by
// hours to weeks, trims, no-op and configuration entries, and a few
// undecodable commands.
type logGen struct {
	rng     *rand.Rand
	opts    genOptions
	users   []string
	now     int64
	seq     uint64
	index   uint64
	nextID  int
	ids     map[string][]string // user → IDs used so far
	ingests []command           // earlier ingest entries, for re-proposals
	logs    []*raft.Log
	plan    ModelPlan
	rfmGen  uint64
}

func newLogGen(rng *rand.Rand, opts genOptions) *logGen {
	if opts.Users == 0 {
		opts.Users = 30
	}
	g := &logGen{rng: rng, opts: opts, now: testStart, ids: map[string][]string{}}
	for i := range opts.Users {
		g.users = append(g.users, fmt.Sprintf("u%02d", i))
	}
	return g
}

// genLog returns a random log of 50–200 entries.
func genLog(rng *rand.Rand, opts genOptions) []*raft.Log {
	g := newLogGen(rng, opts)
	g.extend(50 + rng.IntN(151))
	return g.logs
}

// extend appends n entries and returns them.
func (g *logGen) extend(n int) []*raft.Log {
	from := len(g.logs)
	for len(g.logs) < from+n {
		g.step()
	}
	return g.logs[from:]
}

func (g *logGen) add(typ raft.LogType, data []byte) {
	g.index++
	g.logs = append(g.logs, &raft.Log{Index: g.index, Term: 1, Type: typ, Data: data})
}

func (g *logGen) step() {
	r := g.rng
	if len(g.opts.Models) > 0 {
		switch p := r.IntN(100); {
		case p < 3:
			g.changeModel()
			return
		case p < 12:
			g.add(raft.LogCommand, appendSweep(nil, g.now, 1+r.Uint64N(8)))
			return
		case p < 14:
			g.rfmGen++
			today := float64(g.now / scoring.Day)
			var e scoring.RFMEdges
			for i := range 4 {
				e.Recency[i] = today - float64(60-15*i-r.IntN(10))
				e.Frequency[i] = float64(i + r.IntN(2))
				e.Monetary[i] = float64(1000*i + r.IntN(900))
			}
			e.Buyers = 1 + r.Int64N(1000)
			data, err := appendRFM(nil, g.now, &RFMState{Generation: g.rfmGen, Edges: e})
			if err != nil {
				panic(err)
			}
			g.add(raft.LogCommand, data)
			return
		}
	}
	switch p := r.IntN(100); {
	case p < 60:
		g.now += 1 + r.Int64N(10*60_000)
		g.ingest(g.now)
	case p < 63: // a leader whose clock lags: the FSM keeps time monotonic
		g.ingest(g.now - r.Int64N(testHour))
	case p < 71 && len(g.ingests) > 0:
		g.now += 1 + r.Int64N(60_000)
		g.repropose()
	case p < 86:
		step := testHour + r.Int64N(4*scoring.Day)
		if r.IntN(8) == 0 {
			step = 8*scoring.Day + r.Int64N(30*scoring.Day) // long outage: silent, churned, dedupe expiry
		}
		g.now += step
		g.add(raft.LogCommand, appendTick(nil, g.now, 0))
	case p < 94:
		if g.opts.NoTrims {
			return
		}
		g.add(raft.LogCommand, appendTrim(nil, g.now, r.Uint64N(uint64(2*g.nextID+2))))
	case p < 96:
		g.add(raft.LogNoop, nil)
	case p < 98:
		g.add(raft.LogConfiguration, []byte("configuration"))
	default: // undecodable: skipped the same way everywhere
		bad := appendTick(nil, g.now, 0)
		bad[0] = 7
		g.add(raft.LogCommand, bad)
	}
}

// changeModel proposes a random change of the model plan that the plan
// accepts.
func (g *logGen) changeModel() {
	r := g.rng
	for range 10 {
		var ch ModelChange
		mode := []string{ModeEmit, ModeRebaseline}[r.IntN(2)]
		switch {
		case g.plan.Candidate != nil && r.IntN(3) > 0:
			ch = ModelChange{Action: ModelPromote, Mode: mode}
		case g.plan.Candidate != nil:
			ch = ModelChange{Action: ModelDiscard}
		case r.IntN(2) == 0:
			ch = ModelChange{Action: ModelShadow, Source: g.opts.Models[r.IntN(len(g.opts.Models))]}
		default:
			ch = ModelChange{Action: ModelActivate, Mode: mode, Source: g.opts.Models[r.IntN(len(g.opts.Models))]}
		}
		next := g.plan.clone()
		if next.apply(&ch) != nil {
			continue
		}
		g.plan = next
		data, err := appendModel(nil, g.now, &g.plan)
		if err != nil {
			panic(err)
		}
		g.add(raft.LogCommand, data)
		return
	}
}

func (g *logGen) newEvent(user string, now int64) scoring.Event {
	r := g.rng
	var ts int64
	if r.IntN(10) < 7 {
		ts = now - r.Int64N(2*scoring.Day)
	} else {
		ts = now - r.Int64N(60*scoring.Day)
	}
	typ := genTypes[r.IntN(len(genTypes))]
	var amount int64
	switch typ {
	case scoring.TypePurchase:
		amount = (1 + r.Int64N(30_000)) * 1000
	case scoring.TypeRefund:
		amount = (1 + r.Int64N(10_000)) * 1000
	}
	var id string
	if prev := g.ids[user]; len(prev) > 0 && r.IntN(4) == 0 {
		id = prev[r.IntN(len(prev))] // a duplicate, recent or old
	} else {
		g.nextID++
		id = fmt.Sprintf("e%d", g.nextID)
		g.ids[user] = append(g.ids[user], id)
	}
	e := scoring.Event{ID: id, User: user, Type: typ, TS: ts, Amount: amount}
	if r.IntN(6) == 0 {
		e.Props = []byte(`{"k":"` + id + `"}`)
	}
	return e
}

func (g *logGen) nextSeq() uint64 {
	g.seq += 1 + uint64(max(0, g.rng.IntN(12)-9)) // sometimes skip: dead-lettered messages
	return g.seq
}

func (g *logGen) newEvents(now int64) []ingested {
	r := g.rng
	var evs []ingested
	for range 1 + r.IntN(25) {
		user := g.users[r.IntN(len(g.users))]
		evs = append(evs, ingested{Seq: g.nextSeq(), Stored: now - r.Int64N(1000), Event: g.newEvent(user, now)})
	}
	if r.IntN(12) == 0 { // a coupon burst: moves the risk tier
		user := g.users[r.IntN(len(g.users))]
		for range 6 + r.IntN(10) {
			e := g.newEvent(user, now)
			e.Type, e.Amount, e.TS = scoring.TypeCoupon, 0, now-r.Int64N(30*60_000)
			evs = append(evs, ingested{Seq: g.nextSeq(), Stored: now, Event: e})
		}
	}
	if r.IntN(10) == 0 && len(evs) > 1 { // the same message twice in one batch
		evs = append(evs, evs[r.IntN(len(evs))])
	}
	return evs
}

func (g *logGen) ingest(now int64) {
	c := command{Kind: kindIngest, Now: now, Events: g.newEvents(now)}
	if g.rng.IntN(10) == 0 {
		g.seq += 1 + g.rng.Uint64N(3) // trailing dead letters: the cursor covers them
	}
	c.LastSeq = g.seq
	g.ingests = append(g.ingests, c)
	g.add(raft.LogCommand, encodeCommand(nil, &c))
}

// repropose proposes an earlier batch again (a leader retrying after an
// ambiguous failure), sometimes with new events appended.
func (g *logGen) repropose() {
	old := g.ingests[g.rng.IntN(len(g.ingests))]
	c := command{Kind: kindIngest, Now: g.now, LastSeq: old.LastSeq, Events: slices.Clone(old.Events)}
	if g.rng.IntN(2) == 0 {
		c.Events = append(c.Events, g.newEvents(g.now)...)
		c.LastSeq = g.seq
	}
	g.add(raft.LogCommand, encodeCommand(nil, &c))
}

// ---- Oracle ----

// oracle replays a log through package scoring alone, with the documented
// semantics of one entry at a time: entries at or below the applied index
// are skipped, time is the maximum entry time so far, events at or below the
// cursor are skipped, an event ID is ignored while it is in the user's
// dedupe set (added on apply, expiring window after the apply time, removed
// by the first tick at or after that), and a tick advances every user whose
// next deadline has passed.
type oracle struct {
	model   *scoring.Model
	window  int64
	applied uint64
	cursor  uint64
	now     int64
	states  map[string]*scoring.State
	dedupe  map[string]map[string]int64 // user → event ID → expiry
	applies map[string]uint64           // user → events applied
	trans   map[string][]scoring.Transition
	dups    int
}

func newOracle(model *scoring.Model, window time.Duration) *oracle {
	return &oracle{
		model: model, window: window.Milliseconds(),
		states: map[string]*scoring.State{}, dedupe: map[string]map[string]int64{},
		applies: map[string]uint64{}, trans: map[string][]scoring.Transition{},
	}
}

func (o *oracle) users() []string {
	us := make([]string, 0, len(o.states))
	for u := range o.states {
		us = append(us, u)
	}
	slices.Sort(us)
	return us
}

func (o *oracle) applyAll(logs []*raft.Log) {
	for _, l := range logs {
		o.apply(l)
	}
}

func (o *oracle) apply(l *raft.Log) {
	if l.Index <= o.applied {
		return
	}
	o.applied = l.Index
	if l.Type != raft.LogCommand {
		return
	}
	c, err := decodeCommand(l.Data)
	if err != nil {
		return
	}
	o.now = max(o.now, c.Now)
	switch c.Kind {
	case kindIngest:
		for i := range c.Events {
			in := &c.Events[i]
			if in.Seq <= o.cursor {
				continue
			}
			u, id := in.Event.User, in.Event.ID
			if _, dup := o.dedupe[u][id]; dup {
				o.dups++
				continue
			}
			if o.dedupe[u] == nil {
				o.dedupe[u] = map[string]int64{}
			}
			o.dedupe[u][id] = o.now + o.window
			s := o.states[u]
			if s == nil {
				s = new(scoring.State)
				o.states[u] = s
			}
			o.trans[u] = o.model.Apply(s, &in.Event, o.now, o.trans[u])
			o.applies[u]++
		}
		o.cursor = max(o.cursor, c.LastSeq)
	case kindTick:
		for _, u := range o.users() {
			s := o.states[u]
			if due := o.model.NextDue(s); due != 0 && due <= o.now {
				o.trans[u] = o.model.Advance(s, o.now, o.trans[u])
			}
		}
		for _, ids := range o.dedupe {
			for id, exp := range ids {
				if exp <= o.now {
					delete(ids, id)
				}
			}
		}
	}
}

// ---- Reading an FSM's state ----

// outboxMessage is one decoded outbox record.
type outboxMessage struct {
	Seq    uint64
	Record outboxRecord
	Msg    TransitionMessage
}

// readOutbox returns the outbox records with seq ≥ from.
func readOutbox(t testing.TB, f *FSM, from uint64) []outboxMessage {
	t.Helper()
	var out []outboxMessage
	// The in-memory tail must hand out exactly what Pebble holds: every
	// record from its first seq on, byte for byte.
	f.tail.mu.Lock()
	tailFirst := f.tail.first
	f.tail.mu.Unlock()
	tail := f.tail.appendFrom(nil, tailFirst, outboxTailMax)
	err := f.store.Outbox(from, 0, func(seq uint64, rec []byte) error {
		if len(tail) > 0 && seq >= tailFirst {
			if i := seq - tailFirst; i >= uint64(len(tail)) || !bytes.Equal(tail[i], rec) {
				return fmt.Errorf("outbox %d: in-memory tail (%d records from %d) disagrees with Pebble", seq, len(tail), tailFirst)
			}
		}
		r, err := decodeOutboxRecord(slices.Clone(rec))
		if err != nil {
			return err
		}
		m := outboxMessage{Seq: seq, Record: r}
		if err := jsonUnmarshalStrict(r.JSON, &m.Msg); err != nil {
			return fmt.Errorf("outbox %d: %w", seq, err)
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	return out
}

// jsonUnmarshalStrict decodes one JSON value with no unknown fields and nothing after it.
func jsonUnmarshalStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

// stateDump lists an FSM's readable state (meta, users, timers, outbox) as
// key → value, to show where two FSMs differ.
func stateDump(t testing.TB, f *FSM) map[string]string {
	t.Helper()
	d := map[string]string{}
	m, err := f.store.Meta()
	if err != nil {
		t.Fatal(err)
	}
	d["meta"] = fmt.Sprintf("%+v", m)
	err = f.store.Users(func(user string, state []byte) error {
		var s scoring.State
		var u userState
		gen, err := decodeEnvelope(state, &u, &s)
		if err != nil {
			return err
		}
		d["user/"+user] = fmt.Sprintf("gen=%d hist=%d retired=%v events=%d tiers=%d/%d/%d bytes=%x", gen, u.hist, u.retired, s.Events(), s.Tier(0), s.Tier(1), s.Tier(2), state)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.DueTimers(math.MaxInt64, func(due int64, user string) error {
		d[fmt.Sprintf("timer/%s/%d", user, due)] = ""
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Outbox(0, 0, func(seq uint64, rec []byte) error {
		d[fmt.Sprintf("outbox/%08d", seq)] = string(rec)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return d
}

// stateDiff describes how two dumps differ (at most 10 keys).
func stateDiff(a, b map[string]string) string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var sb strings.Builder
	n := 0
	for _, k := range keys {
		va, oka := a[k]
		vb, okb := b[k]
		if oka == okb && va == vb {
			continue
		}
		if n++; n > 10 {
			sb.WriteString("  …\n")
			break
		}
		fmt.Fprintf(&sb, "  %s:\n    a: %s\n    b: %s\n", k, show(va, oka), show(vb, okb))
	}
	if n == 0 {
		return "  (no difference in meta, users, timers or outbox: the dedupe set differs)\n"
	}
	return sb.String()
}

func show(v string, ok bool) string {
	if !ok {
		return "(absent)"
	}
	if len(v) > 160 {
		return v[:160] + "…"
	}
	return v
}

// requireSameState fails unless a and b hash equal and have equal Meta.
func requireSameState(t testing.TB, what string, a, b *FSM) {
	t.Helper()
	ha, hb := shardHash(t, a), shardHash(t, b)
	if ha != hb {
		t.Fatalf("%s: state hashes differ (I5):\n%s", what, stateDiff(stateDump(t, a), stateDump(t, b)))
	}
	if ma, mb := a.Meta(), b.Meta(); !metaEqual(ma, mb) {
		t.Fatalf("%s: meta differs:\n a: %+v\n b: %+v", what, ma, mb)
	}
}

func metaEqual(a, b storage.Meta) bool {
	return a.AppliedIndex == b.AppliedIndex && a.Cursor == b.Cursor && a.Now == b.Now &&
		a.OutboxNext == b.OutboxNext && a.OutboxTrimmed == b.OutboxTrimmed && slices.Equal(a.Counts, b.Counts)
}

// bufferSink is a raft.SnapshotSink over memory.
type bufferSink struct {
	bytes.Buffer
	closed, canceled bool
}

var _ raft.SnapshotSink = (*bufferSink)(nil)

func (s *bufferSink) ID() string    { return "test-snapshot" }
func (s *bufferSink) Close() error  { s.closed = true; return nil }
func (s *bufferSink) Cancel() error { s.canceled = true; return nil }
