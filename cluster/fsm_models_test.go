package cluster

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/strata-io/strata/scoring"
	"github.com/strata-io/strata/storage/storagetest"
)

// Tests of a shard's model plan: shadow, promotion, activation, sweeps.

// loadExampleModel reads a model file of examples/.
func loadExampleModel(t testing.TB, name string) *ModelSource {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	src, err := ParseModelSource(name, b)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// valueModel is a small model file: a value ladder at the given whale
// threshold and an activity dimension the built-in model does not have.
func valueModel(t testing.TB, version int, whale int) *ModelSource {
	t.Helper()
	text := fmt.Sprintf(`model "ladder" {
  version = %d
  dimension "value" {
    tier "whale"     { when = "scores.monetary_365d >= %d.0" }
    tier "long_tail" { when = "scores.monetary_365d > 0.0" }
    tier "none"      { when = "true" }
  }
  dimension "activity" {
    tier "busy"  { when = "scores.active_days_7 >= 3" }
    tier "quiet" { when = "true" }
  }
}
`, version, whale)
	src, err := ParseModelSource(fmt.Sprintf("ladder-v%d.hcl", version), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// planEntry proposes the plan after change.
func planEntry(t testing.TB, b *entryBuilder, plan *ModelPlan, now int64, ch ModelChange) *raft.Log {
	t.Helper()
	if err := plan.apply(&ch); err != nil {
		t.Fatalf("plan %s: %v", ch.Action, err)
	}
	data, err := appendModel(nil, now, plan)
	if err != nil {
		t.Fatal(err)
	}
	return b.log(data)
}

// sweepAll applies sweep steps of limit users until the shard is done.
func sweepAll(t testing.TB, f *FSM, b *entryBuilder, now int64, limit uint64) int {
	t.Helper()
	steps := 0
	for f.Models().Sweeping {
		resp := f.Apply(b.log(appendSweep(nil, now, limit)))
		if resp != nil && resp != ErrSweepBacklog {
			t.Fatalf("sweep: %v", resp)
		}
		steps++
		if steps > 10_000 {
			t.Fatal("sweep does not end")
		}
	}
	return steps
}

// userTiers reads every user's tiers and model from the FSM's reads.
func userTiers(t testing.TB, f *FSM, users []string) map[string]UserView {
	t.Helper()
	out := map[string]UserView{}
	for _, u := range users {
		v, err := f.User(u)
		if err != nil {
			t.Fatalf("user %s: %v", u, err)
		}
		out[u] = v
	}
	return out
}

// checkCountsAndMembers checks the active counts and the member index
// against every user's tiers.
func checkCountsAndMembers(t testing.TB, f *FSM, views map[string]UserView) {
	t.Helper()
	want := map[string]int64{}
	members := map[string][]string{}
	for u, v := range views {
		for dim, tier := range v.Tiers {
			want[dim+"/"+tier]++
			members[dim+"/"+tier] = append(members[dim+"/"+tier], u)
		}
	}
	got := map[string]int64{}
	for _, c := range f.Models().Counts {
		if c.Kind == string(countActive) {
			got[c.Dim+"/"+c.To] = c.N
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("tier counts %v, users' tiers give %v", got, want)
	}
	for key, users := range members {
		slices.Sort(users)
		var dim, tier string
		for i := range key {
			if key[i] == '/' {
				dim, tier = key[:i], key[i+1:]
				break
			}
		}
		var listed []string
		if _, err := f.store.Members(dim, tier, "", 0, func(u string) error {
			listed = append(listed, u)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(listed, users) {
			t.Errorf("members of %s: index %v, users' tiers %v", key, listed, users)
		}
	}
}

// checkSeqs checks I3 over model changes: per user and dimension the
// published seqs are 1, 2, 3… and each transition starts where the
// previous one ended.
func checkSeqs(t testing.TB, out []outboxMessage) {
	t.Helper()
	type key struct{ user, dim string }
	last := map[key]TransitionMessage{}
	for _, m := range out {
		k := key{m.Msg.User, m.Msg.Dimension}
		prev, seen := last[k]
		if m.Msg.Seq != prev.Seq+1 {
			t.Errorf("%s/%s: seq %d after %d", k.user, k.dim, m.Msg.Seq, prev.Seq)
		}
		if seen && m.Msg.From != prev.To {
			t.Errorf("%s/%s seq %d: from %q, previous transition went to %q", k.user, k.dim, m.Msg.Seq, m.Msg.From, prev.To)
		}
		last[k] = m.Msg
	}
}

func TestFSMShadowPromoteAndActivate(t *testing.T) {
	f := newTestFSM(t, storagetest.Open(t))
	var b entryBuilder
	var plan ModelPlan
	now := testStart
	users := []string{"alice", "bob", "carol", "dave", "erin"}
	// Builtin model: alice is a whale, bob long-tail, the rest browse.
	f.Apply(b.ingest(now,
		ev("alice", "a1", scoring.TypePurchase, now, 60_000_000),
		ev("bob", "b1", scoring.TypePurchase, now, 20_000_000),
		ev("carol", "c1", scoring.TypeLogin, now, 0),
		ev("dave", "d1", scoring.TypeView, now, 0),
		ev("erin", "e1", scoring.TypePurchase, now, 5_000_000),
	))
	before := readOutbox(t, f, 1)

	// A candidate in shadow: whales from 15 000. Shadow publishes nothing.
	now += testHour
	f.Apply(planEntry(t, &b, &plan, now, ModelChange{Action: ModelShadow, Source: valueModel(t, 1, 15_000)}))
	if st := f.Models(); !st.Sweeping || st.Shadow != "ladder@v1" || st.Active != scoring.ModelName {
		t.Fatalf("after shadow: %+v", st)
	}
	sweepAll(t, f, &b, now, 2)
	now += testHour
	f.Apply(b.ingest(now, ev("carol", "c2", scoring.TypePurchase, now, 16_000_000)))
	after := readOutbox(t, f, 1)
	for _, m := range after[len(before):] {
		if m.Msg.Model != scoring.ModelName {
			t.Errorf("shadow published %+v", m.Msg)
		}
	}
	shadow := map[string]int64{}
	moves := map[string]int64{}
	for _, c := range f.Models().Counts {
		switch c.Kind {
		case string(countShadow):
			shadow[c.Dim+"/"+c.To] = c.N
		case string(countMove):
			moves[c.Dim+"/"+c.From+">"+c.To] = c.N
		}
	}
	wantShadow := map[string]int64{"value/whale": 3, "value/long_tail": 1, "value/none": 1, "activity/quiet": 5}
	if !maps.Equal(shadow, wantShadow) {
		t.Errorf("shadow counts %v, want %v", shadow, wantShadow)
	}
	// bob and carol move to whale, erin stays long tail, dave none; nobody
	// has an activity tier under the built-in model.
	wantMoves := map[string]int64{"value/whale>whale": 1, "value/high_potential>whale": 2,
		"value/long_tail>long_tail": 1, "value/none>none": 1, "activity/>quiet": 5}
	if !maps.Equal(moves, wantMoves) {
		t.Errorf("moves %v, want %v", moves, wantMoves)
	}

	// Promote, emitting: the moves become transitions (cause "model").
	now += testHour
	f.Apply(planEntry(t, &b, &plan, now, ModelChange{Action: ModelPromote, Mode: ModeEmit}))
	sweepAll(t, f, &b, now, 2)
	views := userTiers(t, f, users)
	for u, v := range views {
		if v.Model != "ladder@v1" {
			t.Errorf("%s under %s after the sweep", u, v.Model)
		}
	}
	if views["bob"].Tiers["value"] != "whale" || views["carol"].Tiers["value"] != "whale" || views["erin"].Tiers["value"] != "long_tail" {
		t.Errorf("tiers after promotion: %+v", views)
	}
	out := readOutbox(t, f, 1)
	var model []TransitionMessage
	for _, m := range out[len(after):] {
		if m.Msg.Cause == CauseModel {
			model = append(model, m.Msg)
		}
		if m.Msg.Model != "ladder@v1" {
			t.Errorf("after promotion, published under %s: %+v", m.Msg.Model, m.Msg)
		}
	}
	if len(model) != 2+5 { // bob and carol to whale; everyone placed in activity
		t.Errorf("%d model transitions: %+v", len(model), model)
	}
	checkSeqs(t, out)
	checkCountsAndMembers(t, f, views)

	// Activate v2 silently: the whale line moves back to 50 000.
	now += testHour
	mark := len(readOutbox(t, f, 1))
	f.Apply(planEntry(t, &b, &plan, now, ModelChange{Action: ModelActivate, Source: valueModel(t, 2, 50_000), Mode: ModeRebaseline}))
	sweepAll(t, f, &b, now, 3)
	if extra := readOutbox(t, f, 1)[mark:]; len(extra) != 0 {
		t.Errorf("a rebaseline published %d transitions: %+v", len(extra), extra)
	}
	views = userTiers(t, f, users)
	if views["bob"].Tiers["value"] != "long_tail" || views["alice"].Tiers["value"] != "whale" {
		t.Errorf("after rebaseline: %+v", views)
	}
	checkCountsAndMembers(t, f, views)
	// The next change of bob continues his value seqs from the silent move.
	now += testHour
	f.Apply(b.ingest(now, ev("bob", "b2", scoring.TypePurchase, now, 40_000_000)))
	out = readOutbox(t, f, 1)
	checkSeqsAllowingRebaseline(t, out)
	last := out[len(out)-1].Msg
	if last.User != "bob" || last.From != "long_tail" || last.To != "whale" || last.Model != "ladder@v2" {
		t.Errorf("bob's next transition %+v", last)
	}
	if st := f.Models(); len(f.rec.Models) != 1 || st.Sweeping {
		t.Errorf("after the sweeps the shard keeps models %+v (%+v)", f.rec.Models, st)
	}
}

// checkSeqsAllowingRebaseline checks that per user and dimension the seqs
// strictly follow each other (a rebaseline moves users without a
// transition, so from may differ from the previous to).
func checkSeqsAllowingRebaseline(t testing.TB, out []outboxMessage) {
	t.Helper()
	type key struct{ user, dim string }
	last := map[key]uint64{}
	for _, m := range out {
		k := key{m.Msg.User, m.Msg.Dimension}
		if prev, ok := last[k]; ok && m.Msg.Seq != prev+1 || !ok && m.Msg.Seq != 1 {
			t.Errorf("%s/%s: seq %d after %d", k.user, k.dim, m.Msg.Seq, last[k])
		}
		last[k] = m.Msg.Seq
	}
}

// TestFSMModelChangesSameLogSameState runs random logs with model changes
// and sweeps through the determinism checks: the same log gives the same
// state however it is batched, re-applied or restarted.
func TestFSMModelChangesSameLogSameState(t *testing.T) {
	models := []*ModelSource{valueModel(t, 1, 15_000), loadExampleModel(t, "edu-value.hcl"),
		valueModel(t, 2, 30_000), loadExampleModel(t, "default.hcl"), loadExampleModel(t, "coupon-abuse.hcl"),
		loadExampleModel(t, "rfm-segments.hcl"), loadExampleModel(t, "membership.hcl")}
	for _, seed := range testSeeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			rng := seededRand(seed)
			g := newLogGen(rng, genOptions{Models: models, NoTrims: true})
			logs := g.extend(400)

			each := newTestFSM(t, storagetest.Open(t))
			applyEach(t, each, logs)
			if each.rec.Generation == 0 || each.rec.RFMGeneration == 0 {
				t.Fatalf("the log changed no model (%d) or no RFM edges (%d)", each.rec.Generation, each.rec.RFMGeneration)
			}
			t.Logf("active %s, shadow %s, %d outbox records", each.active.Name(), modelName(each.candidate), each.Meta().OutboxNext-1)
			chunked := newTestFSM(t, storagetest.Open(t))
			applyChunks(t, rng, chunked, logs, 40)
			requireSameState(t, "ApplyBatch in random chunks vs one at a time", chunked, each)

			before := shardHash(t, chunked)
			applyChunks(t, rng, chunked, logs, 40)
			if after := shardHash(t, chunked); after != before {
				t.Fatalf("re-applying the log changed the state:\n%s", stateDiff(stateDump(t, each), stateDump(t, chunked)))
			}

			db := storagetest.Open(t)
			first := newTestFSM(t, db)
			applyChunks(t, rng, first, logs[:len(logs)/2], 40)
			restarted := newTestFSM(t, db)
			applyChunks(t, rng, restarted, logs, 40)
			requireSameState(t, "restart at half the log, then the whole log", restarted, each)

			cfg := testFSMConfig(t, storagetest.Open(t))
			cfg.Actors.Capacity = 3
			small := newTestFSMConfig(t, cfg)
			applyChunks(t, rng, small, logs, 40)
			requireSameState(t, "Capacity 3 vs default", small, each)

			// A replica rebuilt from a snapshot taken mid-way (models, shadow
			// states, sweep position, counts and sketch travel with it) goes
			// on identically.
			mid := newTestFSM(t, storagetest.Open(t))
			applyChunks(t, rng, mid, logs[:len(logs)/2], 40)
			restored := newTestFSM(t, storagetest.Open(t))
			if err := restored.Restore(&closeTracker{Reader: bytes.NewReader(persist(t, mid))}); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			applyChunks(t, rng, restored, logs, 40)
			requireSameState(t, "restored from a mid-log snapshot, then the whole log", restored, each)

			// Finish the sweep and check the invariants of the end state.
			var b entryBuilder
			b.index = logs[len(logs)-1].Index
			sweepAll(t, each, &b, each.Meta().Now, 50)
			var users []string
			if err := each.store.Users(func(u string, _ []byte) error {
				users = append(users, u)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			views := userTiers(t, each, users)
			for u, v := range views {
				if v.Model != each.active.Name() {
					t.Errorf("%s under %s after the sweep, active %s", u, v.Model, each.active.Name())
				}
			}
			checkCountsAndMembers(t, each, views)
			checkSeqsAllowingRebaseline(t, readOutbox(t, each, 1))
		})
	}
}
