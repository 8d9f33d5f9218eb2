package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/strata-io/strata/scoring"
	"github.com/strata-io/strata/storage"
	"github.com/strata-io/strata/storage/storagetest"
)

// testSeeds are the seeds of the randomized FSM tests; a failure names its seed.
var testSeeds = []uint64{1, 2, 3, 4, 5, 6, 7, 8}

// counterValue reads a Prometheus counter.
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func seededRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15+1))
}

// TestFSMSameLogSameState is the property of issue 2, acceptance 3: the same
// log yields byte-identical state (I5) however Raft batches it, when it is
// applied again after a restart (RELIABILITY trap 1), and when a restarted
// FSM resumes over the same Pebble state.
func TestFSMSameLogSameState(t *testing.T) {
	for _, seed := range testSeeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			rng := seededRand(seed)
			logs := genLog(rng, genOptions{})

			each := newTestFSM(t, storagetest.Open(t))
			applyEach(t, each, logs)

			chunked := newTestFSM(t, storagetest.Open(t))
			applyChunks(t, rng, chunked, logs, 40)
			requireSameState(t, "ApplyBatch in random chunks vs Apply one at a time", chunked, each)

			whole := newTestFSM(t, storagetest.Open(t))
			checkResponses(t, logs, whole.ApplyBatch(logs))
			requireSameState(t, "one ApplyBatch of the whole log vs Apply one at a time", whole, each)

			before := shardHash(t, chunked)
			applyChunks(t, rng, chunked, logs, 40) // Raft re-applies after a restart
			if after := shardHash(t, chunked); after != before {
				t.Fatalf("re-applying the log changed the state (trap 1):\n%s", stateDiff(stateDump(t, each), stateDump(t, chunked)))
			}
			requireSameState(t, "re-applied log", chunked, each)

			db := storagetest.Open(t)
			first := newTestFSM(t, db)
			applyChunks(t, rng, first, logs[:len(logs)/2], 40)
			restarted := newTestFSM(t, db) // the first is dropped, as by a crash after its last commit
			if m, want := restarted.Meta(), first.Meta(); !metaEqual(m, want) {
				t.Fatalf("restarted FSM loaded meta %+v, want %+v", m, want)
			}
			applyChunks(t, rng, restarted, logs, 40)
			requireSameState(t, "restart at half the log, then the whole log", restarted, each)
		})
	}
}

// TestFSMSameStateWithSmallActorCache applies the random logs with a resident
// set much smaller than the user pool: batching must still not change the
// state (evicted users are reloaded from Pebble, which must not lose the
// writes of earlier entries of the same ApplyBatch that are not committed yet).
func TestFSMSameStateWithSmallActorCache(t *testing.T) {
	for _, seed := range testSeeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			rng := seededRand(seed)
			logs := genLog(rng, genOptions{})

			each := newTestFSM(t, storagetest.Open(t))
			applyEach(t, each, logs)

			cfg := testFSMConfig(t, storagetest.Open(t))
			cfg.Actors.Capacity = 3
			small := newTestFSMConfig(t, cfg)
			applyChunks(t, rng, small, logs, 40)
			requireSameState(t, "Capacity 3, ApplyBatch in chunks vs default, one at a time", small, each)
		})
	}
}

// TestFSMMatchesOracle checks I2 and I3 against an independent replay of the
// log through package scoring: per user the number of applied events, the
// tiers, the scores and the exact transitions published (seq 1, 2, 3… per
// user and dimension, each from the previous to, ending at the current
// tier), and the tier counts in Meta.
func TestFSMMatchesOracle(t *testing.T) {
	for _, seed := range testSeeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			rng := seededRand(seed)
			g := newLogGen(rng, genOptions{})
			logs := g.extend(50 + rng.IntN(151))
			cfg := testFSMConfig(t, storagetest.Open(t))
			f := newTestFSMConfig(t, cfg)

			// Read the outbox after every entry, before a trim can delete it.
			var out []outboxMessage
			next := uint64(1)
			for _, l := range logs {
				applyEach(t, f, []*raft.Log{l})
				for _, m := range readOutbox(t, f, next) {
					if m.Seq != next {
						t.Fatalf("outbox seq %d after %d: gap", m.Seq, next-1)
					}
					next++
					out = append(out, m)
				}
			}

			o := newOracle(cfg.Model, cfg.DedupeWindow)
			o.applyAll(logs)
			meta := f.Meta()
			if meta.AppliedIndex != logs[len(logs)-1].Index || meta.Cursor != o.cursor || meta.Now != o.now || meta.OutboxNext != next {
				t.Fatalf("meta %+v, want applied %d, cursor %d, now %d, outbox next %d",
					meta, logs[len(logs)-1].Index, o.cursor, o.now, next)
			}
			var applied uint64
			for _, n := range o.applies {
				applied += n
			}
			if got := counterValue(t, cfg.Metrics.EventsApplied); got != float64(applied) {
				t.Errorf("events applied metric %v, oracle %d", got, applied)
			}
			if got := counterValue(t, cfg.Metrics.EventsDuplicate); got != float64(o.dups) {
				t.Errorf("duplicate events metric %v, oracle %d", got, o.dups)
			}

			checkUsersAgainstOracle(t, f, g.users, o, meta)
			checkTransitions(t, f, out, o)
		})
	}
}

func checkUsersAgainstOracle(t *testing.T, f *FSM, pool []string, o *oracle, meta storage.Meta) {
	t.Helper()
	var stored []string
	if err := f.store.Users(func(user string, _ []byte) error {
		stored = append(stored, user)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := o.users(); !slices.Equal(stored, want) {
		t.Fatalf("users with state %v, oracle %v", stored, want)
	}
	dims := f.cfg.Model.Dimensions()
	counts := map[string]int64{} // dimension/tier → users
	placed := make([]int64, len(dims))
	for _, u := range pool {
		v, err := f.User(u)
		s, known := o.states[u]
		if !known {
			if !errors.Is(err, ErrUnknownUser) {
				t.Errorf("user %s without applied events: err %v, want ErrUnknownUser", u, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("user %s: %v", u, err)
		}
		if v.Events != o.applies[u] { // I2
			t.Errorf("user %s: %d events, oracle applied %d distinct", u, v.Events, o.applies[u])
		}
		for i, d := range dims {
			want := ""
			if tier := s.Tier(i); tier > 0 {
				want = d.Tiers[tier-1]
			}
			if got := v.Tiers[d.Name]; got != want {
				t.Errorf("user %s: %s tier %q, oracle %q", u, d.Name, got, want)
			}
			if got, ok := v.Tiers[d.Name]; ok {
				placed[i]++
				counts[d.Name+"/"+got]++
			}
		}
		if want := o.model.Scores(s, meta.Now); v.Scores != want {
			t.Errorf("user %s: scores %+v, oracle %+v", u, v.Scores, want)
		}
	}
	got := map[string]int64{}
	sums := map[string]int64{}
	for _, c := range f.Models().Counts {
		if c.Kind == string(countActive) {
			got[c.Dim+"/"+c.To] = c.N
			sums[c.Dim] += c.N
		}
	}
	if !maps.Equal(got, counts) {
		t.Errorf("tier counts %v, users' tiers give %v", got, counts)
	}
	for i, d := range dims {
		if sum := sums[d.Name]; sum != placed[i] {
			t.Errorf("dimension %s: tier counts sum to %d, %d users placed", d.Name, sum, placed[i])
		}
	}
}

// checkTransitions checks the outbox (every record ever appended, in order)
// for I3 and against the oracle's transitions.
func checkTransitions(t *testing.T, f *FSM, out []outboxMessage, o *oracle) {
	t.Helper()
	type key struct{ user, dim string }
	byKey := map[key][]outboxMessage{}
	byUser := map[string][][]byte{}
	for _, m := range out {
		r, msg := m.Record, m.Msg
		if r.User != msg.User || r.Dimension != msg.Dimension || r.Seq != msg.Seq || msg.Model != scoring.ModelName {
			t.Fatalf("outbox %d: record (%s %s %d) and message %+v disagree", m.Seq, r.User, r.Dimension, r.Seq, msg)
		}
		k := key{msg.User, msg.Dimension}
		byKey[k] = append(byKey[k], m)
		byUser[msg.User] = append(byUser[msg.User], r.JSON)
	}
	for k, ms := range byKey {
		for i, m := range ms {
			if m.Msg.Seq != uint64(i+1) {
				t.Fatalf("%s/%s: transition %d has seq %d (I3: 1, 2, 3… without gaps)", k.user, k.dim, i+1, m.Msg.Seq)
			}
			prev := ""
			if i > 0 {
				prev = ms[i-1].Msg.To
			}
			if m.Msg.From != prev {
				t.Fatalf("%s/%s seq %d: from %q, previous to %q", k.user, k.dim, m.Msg.Seq, m.Msg.From, prev)
			}
			if m.Msg.From == m.Msg.To {
				t.Fatalf("%s/%s seq %d: from = to = %q", k.user, k.dim, m.Msg.Seq, m.Msg.To)
			}
		}
		v, err := f.User(k.user)
		if err != nil {
			t.Fatalf("user %s: %v", k.user, err)
		}
		if last := ms[len(ms)-1].Msg.To; v.Tiers[k.dim] != last {
			t.Fatalf("%s/%s: last transition to %q, current tier %q", k.user, k.dim, last, v.Tiers[k.dim])
		}
	}
	for _, u := range o.users() {
		v, err := f.User(u)
		if err != nil {
			t.Fatal(err)
		}
		for dim := range v.Tiers {
			if len(byKey[key{u, dim}]) == 0 {
				t.Fatalf("%s has %s tier %q without a transition", u, dim, v.Tiers[dim])
			}
		}
		var want [][]byte
		for i := range o.trans[u] {
			tr := &o.trans[u][i]
			js, err := json.Marshal(&TransitionMessage{User: u, Dimension: tr.Dimension, From: tr.From, To: tr.To, Seq: tr.Seq,
				At: time.UnixMilli(tr.At).UTC(), Model: o.model.Name(), Reason: tr.Reason, Cause: tr.Cause, Scores: tr.Scores})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, js)
		}
		got := byUser[u]
		for i := range max(len(got), len(want)) {
			if i >= len(got) || i >= len(want) || !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%s: transition %d differs from the oracle's (%d published, oracle %d):\n got %s\nwant %s",
					u, i+1, len(got), len(want), at(got, i), at(want, i))
			}
		}
	}
}

func at(xs [][]byte, i int) []byte {
	if i < len(xs) {
		return xs[i]
	}
	return []byte("(none)")
}

// TestFSMDedupe checks the per-user dedupe set: an event ID counts once per
// user while it is remembered (DedupeWindow, 7 days from its apply time,
// forgotten by the first tick at or after that), whether the copies arrive in
// one entry or several, and however the entries are batched.
func TestFSMDedupe(t *testing.T) {
	t0 := testStart
	week := testWindow.Milliseconds()
	ts := func(now int64) int64 { return now - testHour }
	login := func(user, id string, now int64) scoring.Event { return ev(user, id, scoring.TypeLogin, ts(now), 0) }
	tests := []struct {
		name     string
		build    func(b *entryBuilder) []*raft.Log
		want     map[string]uint64 // user → events
		wantDups float64
	}{
		{"same id twice in one entry", func(b *entryBuilder) []*raft.Log {
			return []*raft.Log{b.ingest(t0, login("u1", "a", t0), login("u1", "a", t0))}
		}, map[string]uint64{"u1": 1}, 1},
		{"same id in two entries", func(b *entryBuilder) []*raft.Log {
			return []*raft.Log{b.ingest(t0, login("u1", "a", t0)), b.ingest(t0+60_000, login("u1", "a", t0+60_000))}
		}, map[string]uint64{"u1": 1}, 1},
		{"same id for two users", func(b *entryBuilder) []*raft.Log {
			return []*raft.Log{b.ingest(t0, login("u1", "a", t0), login("u2", "a", t0))}
		}, map[string]uint64{"u1": 1, "u2": 1}, 0},
		{"after a tick 6 days later", func(b *entryBuilder) []*raft.Log {
			n := t0 + 6*scoring.Day
			return []*raft.Log{b.ingest(t0, login("u1", "a", t0)), b.tick(n), b.ingest(n, login("u1", "a", n))}
		}, map[string]uint64{"u1": 1}, 1},
		{"after a tick 1 ms before the window ends", func(b *entryBuilder) []*raft.Log {
			n := t0 + week - 1
			return []*raft.Log{b.ingest(t0, login("u1", "a", t0)), b.tick(n), b.ingest(n, login("u1", "a", n))}
		}, map[string]uint64{"u1": 1}, 1},
		{"after a tick 1 ms after the window", func(b *entryBuilder) []*raft.Log {
			n := t0 + week + 1
			return []*raft.Log{b.ingest(t0, login("u1", "a", t0)), b.tick(n), b.ingest(n, login("u1", "a", n))}
		}, map[string]uint64{"u1": 2}, 0},
		{"after a tick 1 ms after the window, in a later entry", func(b *entryBuilder) []*raft.Log {
			n := t0 + week + 1
			return []*raft.Log{b.ingest(t0, login("u1", "a", t0)), b.tick(n),
				b.ingest(n, login("u2", "b", n)), b.ingest(n+1, login("u1", "a", n+1))}
		}, map[string]uint64{"u1": 2, "u2": 1}, 0},
		{"the window restarts at the second apply", func(b *entryBuilder) []*raft.Log {
			n1 := t0 + week + 1
			n2 := t0 + 10*scoring.Day
			n3 := n1 + week
			return []*raft.Log{
				b.ingest(t0, login("u1", "a", t0)),
				b.tick(n1), b.ingest(n1, login("u1", "a", n1)), // counts: 2
				b.tick(n2), b.ingest(n2, login("u1", "a", n2)), // duplicate
				b.tick(n3), b.ingest(n3, login("u1", "a", n3)), // counts: 3
			}
		}, map[string]uint64{"u1": 3}, 1},
		{"a re-proposed entry is skipped by the cursor, not counted as duplicate", func(b *entryBuilder) []*raft.Log {
			first := b.ingest(t0, login("u1", "a", t0), login("u1", "b", t0))
			c, err := decodeCommand(first.Data)
			if err != nil {
				t.Fatal(err)
			}
			return []*raft.Log{first, b.log(appendIngest(nil, t0+1000, 0, c.LastSeq, c.Events))}
		}, map[string]uint64{"u1": 2}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b entryBuilder
			logs := tc.build(&b)
			run := func(mode string, apply func(f *FSM)) *FSM {
				cfg := testFSMConfig(t, storagetest.Open(t))
				f := newTestFSMConfig(t, cfg)
				apply(f)
				for user, want := range tc.want {
					v, err := f.User(user)
					if err != nil {
						t.Fatalf("%s: user %s: %v", mode, user, err)
					}
					if v.Events != want {
						t.Errorf("%s: user %s has %d events, want %d", mode, user, v.Events, want)
					}
				}
				if got := counterValue(t, cfg.Metrics.EventsDuplicate); got != tc.wantDups {
					t.Errorf("%s: duplicates metric %v, want %v", mode, got, tc.wantDups)
				}
				return f
			}
			each := run("one entry per Apply", func(f *FSM) { applyEach(t, f, logs) })
			batch := run("one ApplyBatch", func(f *FSM) { checkResponses(t, logs, f.ApplyBatch(logs)) })
			requireSameState(t, "one ApplyBatch vs one entry per Apply", batch, each)
		})
	}
}

// TestFSMSkipsAppliedAndNonCommandEntries checks the applied index: entries
// at or below it are skipped, non-command entries only advance it, and an
// undecodable command is skipped with an error response.
func TestFSMSkipsAppliedAndNonCommandEntries(t *testing.T) {
	var b entryBuilder
	t0 := testStart
	logs := []*raft.Log{b.ingest(t0, ev("u1", "a", scoring.TypePurchase, t0, 70_000_000))}
	b.index++
	logs = append(logs, &raft.Log{Index: b.index, Term: 1, Type: raft.LogNoop})
	logs = append(logs, b.log([]byte{commandVersion, 99}))
	f := newTestFSM(t, storagetest.Open(t))
	resp := f.ApplyBatch(logs)
	if resp[0] != nil || resp[1] != nil {
		t.Fatalf("responses %v, want nil for the ingest and the no-op", resp)
	}
	if err, _ := resp[2].(error); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("undecodable entry: response %v, want ErrBadCommand", resp[2])
	}
	m := f.Meta()
	if m.AppliedIndex != 3 || m.Cursor != 1 {
		t.Fatalf("meta %+v, want applied 3, cursor 1", m)
	}
	h := shardHash(t, f)
	// The same indexes with other content are ignored: they were applied.
	again := []*raft.Log{{Index: 1, Term: 1, Type: raft.LogCommand, Data: appendIngest(nil, t0+1, 0, 9,
		[]ingested{{Seq: 9, Event: ev("u1", "z", scoring.TypePurchase, t0, 1_000)}})}, {Index: 3, Term: 1, Type: raft.LogCommand, Data: appendTick(nil, t0+40*scoring.Day, 0)}}
	f.ApplyBatch(again)
	f.Apply(again[0])
	if shardHash(t, f) != h || !metaEqual(f.Meta(), m) {
		t.Fatalf("entries at or below the applied index changed the state")
	}
	v, err := f.User("u1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Events != 1 || v.Tiers["value"] != "whale" || v.AppliedIndex != 3 {
		t.Fatalf("user %+v, want 1 event, value whale, applied index 3", v)
	}
}

// TestFSMTimersFireOnTicks checks the time-driven lifecycle through the FSM:
// silent and churned fire from ticks at their exact deadlines, and a trim
// removes published records.
func TestFSMTimersFireOnTicks(t *testing.T) {
	var b entryBuilder
	t0 := testStart
	f := newTestFSM(t, storagetest.Open(t))
	applyEach(t, f, []*raft.Log{
		b.ingest(t0, ev("u1", "a", scoring.TypeLogin, t0, 0)),
		b.tick(t0 + 6*scoring.Day),
		b.tick(t0 + 8*scoring.Day),
		b.tick(t0 + 31*scoring.Day),
	})
	var path []string
	for _, m := range readOutbox(t, f, 0) {
		if m.Msg.Dimension == "lifecycle" {
			path = append(path, fmt.Sprintf("%s→%s@%dd/%s", m.Msg.From, m.Msg.To, (m.Msg.At.UnixMilli()-t0)/scoring.Day, m.Msg.Cause))
			if m.Msg.Cause == scoring.CauseTimer && m.Record.Origin != 0 {
				t.Errorf("tick-fired transition has origin %d, want 0", m.Record.Origin)
			}
		}
	}
	want := []string{"→new@0d/a", "new→silent@7d/timer", "silent→churned@30d/timer"}
	if !slices.Equal(path, want) {
		t.Fatalf("lifecycle path %v, want %v", path, want)
	}
	m := f.Meta()
	applyEach(t, f, []*raft.Log{b.trim(t0+31*scoring.Day, m.OutboxNext-1)})
	if rest := readOutbox(t, f, 0); len(rest) != 0 {
		t.Fatalf("%d outbox records after trimming everything", len(rest))
	}
	if got := f.Meta(); got.OutboxTrimmed != m.OutboxNext-1 || got.OutboxNext != m.OutboxNext {
		t.Fatalf("meta after trim %+v", got)
	}
}

// ---- Snapshots ----

func persist(t testing.TB, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	defer snap.Release()
	var sink bufferSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	if !sink.closed || sink.canceled {
		t.Fatalf("Persist left the sink closed=%v canceled=%v, want closed", sink.closed, sink.canceled)
	}
	return sink.Bytes()
}

// closeTracker is an io.ReadCloser that records Close.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

// userViews reads every user of the pool that f knows.
func userViews(t testing.TB, f *FSM, pool []string) map[string]UserView {
	t.Helper()
	vs := map[string]UserView{}
	for _, u := range pool {
		v, err := f.User(u)
		if errors.Is(err, ErrUnknownUser) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		vs[u] = v
	}
	return vs
}

// TestFSMSnapshotRestore restores a snapshot into an FSM that holds other
// state (with warm actors for the same users): it must end up identical to
// the source, serve the same reads, and continue identically.
func TestFSMSnapshotRestore(t *testing.T) {
	for _, seed := range testSeeds[:3] {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			rng := seededRand(seed)
			g := newLogGen(rng, genOptions{})
			logs := g.extend(120)
			src := newTestFSM(t, storagetest.Open(t))
			applyEach(t, src, logs)
			data := persist(t, src)

			// A replica with some other, shorter history (a snapshot older
			// than the applied state is refused: see TestFSMRestoreRejectsCorruptSnapshot).
			dst := newTestFSM(t, storagetest.Open(t))
			other := genLog(seededRand(seed+100), genOptions{})
			applyEach(t, dst, other[:min(len(other), 60)])
			rc := &closeTracker{Reader: bytes.NewReader(data)}
			if err := dst.Restore(rc); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if !rc.closed {
				t.Errorf("Restore did not close its reader")
			}
			requireSameState(t, "restored vs source", dst, src)
			if got, want := userViews(t, dst, g.users), userViews(t, src, g.users); !reflect.DeepEqual(got, want) {
				t.Fatalf("restored users differ:\n got %+v\nwant %+v", got, want)
			}

			more := g.extend(60)
			applyEach(t, src, more)
			applyChunks(t, rng, dst, more, 20)
			requireSameState(t, "restored and source after more entries", dst, src)
			applyChunks(t, rng, dst, logs, 20) // entries covered by the snapshot are skipped
			requireSameState(t, "restored after re-applying the snapshot's entries", dst, src)
		})
	}
}

// TestFSMSnapshotIsPointInTime persists a snapshot while the FSM goes on
// applying (Persist runs concurrently with Apply, RELIABILITY trap 3): the
// stream holds the state as of Snapshot.
func TestFSMSnapshotIsPointInTime(t *testing.T) {
	rng := seededRand(42)
	logs := genLog(rng, genOptions{})
	half := len(logs) / 2
	src := newTestFSM(t, storagetest.Open(t))
	applyChunks(t, rng, src, logs[:half], 10)
	want, wantMeta := shardHash(t, src), src.Meta()

	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var sink bufferSink
		err := snap.Persist(&sink)
		done <- result{sink.Bytes(), err}
	}()
	applyChunks(t, rng, src, logs[half:], 10)
	res := <-done
	snap.Release()
	if res.err != nil {
		t.Fatalf("Persist: %v", res.err)
	}

	dst := newTestFSM(t, storagetest.Open(t))
	if err := dst.Restore(io.NopCloser(bytes.NewReader(res.data))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if shardHash(t, dst) != want || !metaEqual(dst.Meta(), wantMeta) {
		t.Fatalf("restored state is not the state at Snapshot: meta %+v, want %+v", dst.Meta(), wantMeta)
	}
	applyChunks(t, rng, dst, logs, 10)
	requireSameState(t, "restored at half, then the whole log", dst, src)
}

type failingReader struct {
	r     io.Reader
	left  int
	cause error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, f.cause
	}
	if len(p) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= n
	return n, err
}

// TestFSMRestoreRejectsCorruptSnapshot feeds damaged snapshots to an FSM that
// holds state: every one is refused with an error and leaves the FSM's state,
// reads and later applies exactly as they were.
func TestFSMRestoreRejectsCorruptSnapshot(t *testing.T) {
	rng := seededRand(9)
	src := newTestFSM(t, storagetest.Open(t))
	applyEach(t, src, genLog(rng, genOptions{}))
	data := persist(t, src)

	g := newLogGen(seededRand(10), genOptions{})
	prior := g.extend(100)
	dst := newTestFSM(t, storagetest.Open(t))
	control := newTestFSM(t, storagetest.Open(t))
	applyEach(t, dst, prior)
	applyEach(t, control, prior)
	before, beforeMeta, beforeUsers := shardHash(t, dst), dst.Meta(), userViews(t, dst, g.users)

	flip := func(i int) []byte {
		b := slices.Clone(data)
		b[i] ^= 0x01
		return b
	}
	type damaged struct {
		name string
		r    io.Reader
		want error
	}
	var cases []damaged
	positions := []int{}
	for i := range min(40, len(data)) {
		positions = append(positions, i, len(data)-1-i)
	}
	for range 200 {
		positions = append(positions, rng.IntN(len(data)))
	}
	for _, i := range positions {
		cases = append(cases, damaged{fmt.Sprintf("bit flipped at byte %d of %d", i, len(data)), bytes.NewReader(flip(i)), storage.ErrCorrupt})
	}
	for _, n := range []int{0, 1, 8, 9, 14, len(data) / 3, len(data) / 2, len(data) - 17, len(data) - 4, len(data) - 1} {
		cases = append(cases, damaged{fmt.Sprintf("truncated to %d of %d bytes", n, len(data)), bytes.NewReader(data[:n]), storage.ErrCorrupt})
	}
	cases = append(cases,
		damaged{"trailing byte", bytes.NewReader(append(slices.Clone(data), 0)), storage.ErrCorrupt},
		damaged{"snapshot appended twice", bytes.NewReader(append(slices.Clone(data), data...)), storage.ErrCorrupt},
		damaged{"not a snapshot", bytes.NewReader([]byte("STRATASX not a snapshot at all")), storage.ErrCorrupt},
	)
	errRead := errors.New("disk on fire")
	cases = append(cases, damaged{"read error half way", &failingReader{r: bytes.NewReader(data), left: len(data) / 2, cause: errRead}, errRead})

	for _, tc := range cases {
		err := dst.Restore(io.NopCloser(tc.r))
		if err == nil {
			t.Fatalf("%s: Restore succeeded", tc.name)
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
		if shardHash(t, dst) != before || !metaEqual(dst.Meta(), beforeMeta) {
			t.Fatalf("%s: failed Restore changed the state", tc.name)
		}
	}
	if got := userViews(t, dst, g.users); !reflect.DeepEqual(got, beforeUsers) {
		t.Fatalf("failed restores changed the users")
	}
	more := g.extend(60)
	applyChunks(t, rng, dst, more, 10)
	applyEach(t, control, more)
	requireSameState(t, "after failed restores and more entries vs control", dst, control)

	// dst is past the snapshot now: the intact snapshot is refused as stale
	// and changes nothing; a replica that is behind takes it.
	before, beforeMeta = shardHash(t, dst), dst.Meta()
	if err := dst.Restore(io.NopCloser(bytes.NewReader(data))); !errors.Is(err, storage.ErrStaleSnapshot) {
		t.Fatalf("snapshot older than the state: error %v, want %v", err, storage.ErrStaleSnapshot)
	}
	if shardHash(t, dst) != before || !metaEqual(dst.Meta(), beforeMeta) {
		t.Fatalf("refused stale snapshot changed the state")
	}
	fresh := newTestFSM(t, storagetest.Open(t))
	if err := fresh.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("intact snapshot on a fresh replica after failed ones: %v", err)
	}
	requireSameState(t, "intact snapshot restored after failed ones", fresh, src)
}

// An ingest entry that starts past the cursor (the entry before it never
// committed, e.g. its proposal timed out) is rejected, not applied: applying
// it would move the cursor over events nobody applied (I1).
func TestFSMRejectsCursorGap(t *testing.T) {
	t0 := testStart
	db := storagetest.Open(t)
	f := newTestFSM(t, db)
	ev := func(seq uint64, id string) []ingested {
		return []ingested{sampleEvent(seq, id, "u", "view", t0, 0, "")}
	}
	logs := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogCommand, Data: appendIngest(nil, t0, 0, 1, ev(1, "a"))},
		{Index: 2, Term: 1, Type: raft.LogCommand, Data: appendIngest(nil, t0, 2, 3, ev(3, "c"))}, // (1,2] never committed
	}
	resp := f.ApplyBatch(logs)
	if err, _ := resp[1].(error); !errors.Is(err, ErrCursorGap) {
		t.Fatalf("gap entry response %v, want ErrCursorGap", resp[1])
	}
	if m := f.Meta(); m.Cursor != 1 || m.AppliedIndex != 2 {
		t.Fatalf("cursor %d applied %d, want cursor 1 (gap entry skipped), applied 2", m.Cursor, m.AppliedIndex)
	}
	// The leader re-reads from the cursor: (1,3] arrives in one entry.
	retry := &raft.Log{Index: 3, Term: 1, Type: raft.LogCommand,
		Data: appendIngest(nil, t0, 1, 3, append(ev(2, "b"), ev(3, "c")...))}
	if err, _ := f.ApplyBatch([]*raft.Log{retry})[0].(error); err != nil {
		t.Fatal(err)
	}
	v, err := f.User("u")
	if err != nil {
		t.Fatal(err)
	}
	if v.Events != 3 || f.Meta().Cursor != 3 {
		t.Fatalf("events %d cursor %d, want 3 and 3", v.Events, f.Meta().Cursor)
	}
	// A re-proposal overlapping applied events (prev below the cursor) is fine: nothing counts twice.
	again := &raft.Log{Index: 4, Term: 1, Type: raft.LogCommand, Data: appendIngest(nil, t0, 1, 3, ev(3, "c"))}
	if err, _ := f.ApplyBatch([]*raft.Log{again})[0].(error); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.User("u"); v.Events != 3 {
		t.Fatalf("events %d after an overlapping re-proposal, want 3", v.Events)
	}
}

// A tick fires at most its limit of timers and says so; further ticks finish
// the work, and the users end exactly as after one unlimited tick (the exact
// deadlines travel in the transitions, not the tick's time).
func TestFSMTickLimit(t *testing.T) {
	t0 := testStart
	const users = 25
	var evs []ingested
	for i := range users {
		evs = append(evs, sampleEvent(uint64(i+1), "e", fmt.Sprintf("u%02d", i), "login", t0, 0, ""))
	}
	build := func(t *testing.T) *FSM {
		f := newTestFSM(t, storagetest.Open(t))
		f.ApplyBatch([]*raft.Log{{Index: 1, Term: 1, Type: raft.LogCommand, Data: appendIngest(nil, t0, 0, users, evs)}})
		return f
	}
	later := t0 + 8*scoring.Day // every user's idle ≥ 7 d deadline has passed

	limited := build(t)
	var got []error
	for i := uint64(2); i <= 4; i++ {
		resp := limited.ApplyBatch([]*raft.Log{{Index: i, Term: 1, Type: raft.LogCommand, Data: appendTick(nil, later, 10)}})
		err, _ := resp[0].(error)
		got = append(got, err)
	}
	if !errors.Is(got[0], ErrTickBacklog) || !errors.Is(got[1], ErrTickBacklog) || got[2] != nil {
		t.Fatalf("tick responses %v, want backlog, backlog, nil", got)
	}

	whole := build(t)
	if resp := whole.ApplyBatch([]*raft.Log{{Index: 2, Term: 1, Type: raft.LogCommand, Data: appendTick(nil, later, 0)}}); resp[0] != nil {
		t.Fatalf("unlimited tick: %v", resp[0])
	}
	for i := range users {
		u := fmt.Sprintf("u%02d", i)
		a, errA := limited.User(u)
		b, errB := whole.User(u)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if a.Tiers["lifecycle"] != "silent" || fmt.Sprint(a.Tiers) != fmt.Sprint(b.Tiers) || a.Scores != b.Scores {
			t.Errorf("%s: limited ticks %v %+v, one tick %v %+v", u, a.Tiers, a.Scores, b.Tiers, b.Scores)
		}
	}
	if a, b := limited.Meta(), whole.Meta(); a.OutboxNext != b.OutboxNext || fmt.Sprint(a.Counts) != fmt.Sprint(b.Counts) {
		t.Errorf("limited: outbox %d counts %v; whole: outbox %d counts %v", a.OutboxNext, a.Counts, b.OutboxNext, b.Counts)
	}
}
