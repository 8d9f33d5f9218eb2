package scoring

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// RuleModel with examples/default.hcl emits the same transitions as the Go
// default@v1 — dimension, from, to, seq, instant, reason, cause and scores —
// over random users with events and long gaps, its state encoded and
// decoded at random points, timers included (ts = apply time: see
// TestRulesMatchDefaultLifecycle for the one known difference).
func TestRuleModelMatchesDefaultModel(t *testing.T) {
	spec, goModel := exampleModel(t, "default.hcl")
	rm, err := NewRuleModel(spec)
	if err != nil {
		t.Fatal(err)
	}
	if rm.Name() != "default@v2" || len(rm.Dimensions()) != 3 {
		t.Fatalf("%s with %v", rm.Name(), rm.Dimensions())
	}
	// Go model transitions in rule-model dimension order.
	order := map[string]int{}
	for i, d := range rm.Dimensions() {
		order[d.Name] = i
	}
	sortByDim := func(ts []Transition) {
		slices.SortStableFunc(ts, func(a, b Transition) int {
			if a.At != b.At {
				return int(a.At - b.At)
			}
			return order[a.Dimension] - order[b.Dimension]
		})
	}
	goDim := map[string]int{"lifecycle": dimLifecycle, "value": dimValue, "risk": dimRisk}
	r := rand.New(rand.NewPCG(12, 34))
	total := 0
	for round := range 200 {
		gs, rs := new(State), new(State)
		var want, got []Transition
		now := int64(1_790_000_000_000)
		for i := range 1 + r.IntN(30) {
			now += []int64{minute, Day, 5 * Day, 10 * Day, 40 * Day}[r.IntN(5)] + r.Int64N(Day)
			typ := []string{TypeLogin, TypePurchase, TypePurchase, TypeCoupon, TypeRefund, TypeView}[r.IntN(6)]
			e := Event{ID: fmt.Sprint(i), User: "u", Type: typ, TS: now, Amount: 1000 * (1 + r.Int64N(40_000))}
			want = goModel.Apply(gs, &e, now, want)
			got = rm.Apply(rs, &e, now, got)
			if r.IntN(3) == 0 { // a stored state continues identically
				b, _ := rs.AppendBinary(nil)
				rs = new(State)
				if err := rs.UnmarshalBinary(b); err != nil {
					t.Fatalf("round %d: decode: %v", round, err)
				}
			}
		}
		want = goModel.Advance(gs, now+400*Day, want)
		got = rm.Advance(rs, now+400*Day, got)
		sortByDim(want)
		if !slices.Equal(got, want) {
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Fatalf("round %d, transition %d:\nrule model %+v\nGo model   %+v", round, i, got[i], want[i])
				}
			}
			t.Fatalf("round %d: %d transitions, the Go model %d", round, len(got), len(want))
		}
		for d, dim := range rm.Dimensions() { // State.Tier reads placements
			gd := goDim[dim.Name]
			if rs.Tier(d) == 0 || dim.Tiers[rs.Tier(d)-1] != tierNames[gd][gs.Tier(gd)] {
				t.Fatalf("round %d: State.Tier(%d) = %d, the Go model's %s", round, d, rs.Tier(d), tierNames[gd][gs.Tier(gd)])
			}
		}
		total += len(got)
	}
	t.Logf("%d transitions compared", total)
	if total < 2000 {
		t.Errorf("only %d transitions", total)
	}
}

// A decoded rule-model state with a placements section round-trips, and
// corrupt sections are rejected.
func TestRuleModelStateCodec(t *testing.T) {
	s := State{events: 1, places: []placeState{{tier: 2, previous: NoTier, since: 5, seq: 3}, {tier: NoTier, previous: NoTier}}}
	b, _ := s.AppendBinary(nil)
	var d State
	if err := d.UnmarshalBinary(b); err != nil || !slices.Equal(d.places, s.places) {
		t.Fatalf("round trip: %v, %+v", err, d.places)
	}
	n := len(b) - 1 - 4*2 - 1 // start of the section: tag, count, 2 × 4 fields of one byte
	for name, bad := range map[string][]byte{
		"empty section":  append(append([]byte(nil), b[:n]...), placesTag, 0),
		"unknown tag":    append(append([]byte(nil), b[:n]...), 'X', 1, 0, 0, 0, 0),
		"truncated":      b[:len(b)-1],
		"negative since": append(append([]byte(nil), b[:n]...), placesTag, 1, 1, 0, 1, 0),
	} {
		if err := new(State).UnmarshalBinary(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// BenchmarkRuleModelApply: one event applied to a warm user under
// examples/default.hcl as a RuleModel (placement of every dimension and the
// next due instant), beside the Go default@v1 doing the same.
func BenchmarkRuleModelApply(b *testing.B) {
	spec, goModel := exampleModel(b, "default.hcl")
	rm, err := NewRuleModel(spec)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		apply func(*State, *Event, int64, []Transition) []Transition
	}{{"rules", rm.Apply}, {"go", goModel.Apply}} {
		b.Run(c.name, func(b *testing.B) {
			s := new(State)
			now := int64(1_790_000_000_000)
			var out []Transition
			e := Event{ID: "e", User: "u", Type: TypePurchase, Amount: 25_000}
			b.ReportAllocs()
			for b.Loop() {
				now += 10 * minute
				e.TS = now
				out = c.apply(s, &e, now, out[:0])
			}
		})
	}
}

// applier is what the Apply benchmarks run: a Model or a RuleModel.
type applier interface {
	Apply(s *State, e *Event, now int64, out []Transition) []Transition
}

// BenchmarkRuleModelUsers measures Apply on warm states, like
// BenchmarkApply/mixed: 512 users, each with ~300 events of mixed types
// over ~90 days, receive events in turn, each user's clock advancing ~1 h
// per event; under examples/default.hcl ("default"), the 30-rule model of
// BenchmarkThirtyRules ("thirty") and default@v1 ("go").
func BenchmarkRuleModelUsers(b *testing.B) {
	spec, goModel := exampleModel(b, "default.hcl")
	def, err := NewRuleModel(spec)
	if err != nil {
		b.Fatal(err)
	}
	thirty, err := NewRuleModel(thirtyRules(b))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		m    applier
	}{{"default", def}, {"thirty", thirty}, {"go", goModel}} {
		b.Run(c.name, func(b *testing.B) {
			const users = 512
			r := rand.New(rand.NewPCG(1, 2))
			states := make([]State, users)
			nows := make([]int64, users)
			out := make([]Transition, 0, 16)
			for u := range states {
				now := t0
				for i := range 300 {
					now += r.Int64N(14 * hour)
					e := ev(fmt.Sprint(i), propTypes[r.IntN(len(propTypes))], now-r.Int64N(2*Day), 1000+r.Int64N(100_000))
					out = c.m.Apply(&states[u], e, now, out[:0])
				}
				nows[u] = now
			}
			events := make([]Event, 64)
			for i := range events {
				events[i] = Event{ID: fmt.Sprint("b", i), User: "u", Type: propTypes[i%len(propTypes)], Amount: 5000}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				u := i % users
				nows[u] += hour
				e := &events[i%len(events)]
				e.TS = nows[u]
				out = c.m.Apply(&states[u], e, nows[u], out[:0])
				i++
			}
		})
	}
}

// BenchmarkRuleModelHeavyBuyer: one user with a purchase every 10 minutes
// for a year (365 day buckets of 144 purchases) receives another, under
// examples/default.hcl ("rules") and default@v1 ("go"): the cost per event
// must not grow with the buckets walked per candidate instant.
func BenchmarkRuleModelHeavyBuyer(b *testing.B) {
	spec, goModel := exampleModel(b, "default.hcl")
	rm, err := NewRuleModel(spec)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		m    applier
	}{{"rules", rm}, {"go", goModel}} {
		b.Run(c.name, func(b *testing.B) {
			var s State
			out := make([]Transition, 0, 16)
			now := t0
			e := ev("p", TypePurchase, now, 25_000)
			for range 365 * 144 {
				now += 10 * minute
				e.TS = now
				out = c.m.Apply(&s, e, now, out[:0])
			}
			b.ReportAllocs()
			for b.Loop() {
				now += 10 * minute
				e.TS = now
				out = c.m.Apply(&s, e, now, out[:0])
			}
		})
	}
}
