package scoring

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// randomState applies a random history of events over the last `span` ms
// before now to a fresh state.
func randomState(m *Model, r *rand.Rand, now, span int64) *State {
	s := new(State)
	types := []string{TypePurchase, TypePurchase, TypeRefund, TypeCoupon, TypeCoupon, TypeLogin, TypeView}
	n := 1 + r.IntN(40)
	for i := range n {
		typ := types[r.IntN(len(types))]
		e := Event{ID: fmt.Sprint(i), User: "u", Type: typ, TS: now - r.Int64N(span)}
		if typ == TypePurchase || typ == TypeRefund {
			e.Amount = 1000 * (1 + r.Int64N(30_000))
		}
		m.Apply(s, &e, now, nil)
	}
	return s
}

// nextFlip is checked against sampling: the atom keeps its truth at every
// sampled instant before the flip (all breakpoints, the instants just
// before them, and random instants), and differs at the flip, which is
// either a breakpoint or the millisecond after an instant where it held.
func TestNextFlip(t *testing.T) {
	m, err := NewModel(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 11))
	ops := []string{operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals, operators.Equals, operators.NotEquals}
	const now = int64(1_790_000_000_000)
	const horizon = 3 * 365 * Day
	flips, never := 0, 0
	var buf []int64
	for round := range 400 {
		s := randomState(m, r, now, []int64{Day, 20 * Day, 200 * Day}[round%3])
		for score := range scoreFields {
			// A threshold near the score's value now or at some later instant.
			v := m.scoreAt(s, score, now+r.Int64N(60*Day))
			c := v * (0.5 + r.Float64())
			if r.IntN(4) == 0 {
				c = v
			}
			op := ops[r.IntN(len(ops))]
			if scoreMotions[score] == motionContinuous && (op == operators.Equals || op == operators.NotEquals) {
				op = operators.GreaterEquals // rejected at load for continuous scores
			}
			a := atom{score: score, op: op, c: c}
			at := func(t int64) bool { return holds(op, m.scoreAt(s, score, t), c) }
			was := at(now)
			got := m.nextFlip(s, a, Placement{Tier: NoTier, Previous: NoTier}, now, &buf)
			end := now + horizon
			if got != 0 {
				end = got - 1
				if at(got) == was {
					t.Fatalf("round %d %s %s %v: no flip at %d", round, scoreFields[score], op, c, got)
				}
				flips++
			} else {
				never++
			}
			samples := []int64{end}
			for _, b := range m.breakpoints(s, score, now, new([]int64)) {
				samples = append(samples, b-1, b)
			}
			for range 300 {
				samples = append(samples, now+1+r.Int64N(end-now+1))
			}
			for _, x := range samples {
				if x > now && x <= end && at(x) != was {
					t.Fatalf("round %d %s %s %v: flip at %d before the reported %d", round, scoreFields[score], op, c, x, got)
				}
			}
		}
	}
	if flips < 500 || never < 100 {
		t.Errorf("%d atoms flipped and %d never did: the cases are not varied enough", flips, never)
	}
	t.Logf("%d flips, %d never within the horizon", flips, never)
}

const dueModel = `
model "due" {
  version = 1
  dimension "value" {
    tier "whale" {
      when = "scores.monetary_365d >= 50000"
      exit = "scores.monetary_365d < 45000"
    }
    tier "high_potential" {
      when      = "scores.monetary_365d >= 10000 && scores.purchases_90d >= 2"
      min_dwell = "10d"
    }
    tier "long_tail" { when = "scores.monetary_365d > 0" }
    tier "none"      { when = "true" }
  }
  dimension "lifecycle" {
    moves = { churned = ["reactivated"] }
    tier "new"         { when = "scores.age_days < 7" }
    tier "reactivated" {
      when      = "scores.idle_days < 7"
      min_dwell = "7d"
    }
    tier "active"  { when = "scores.idle_days < 7 && scores.activity >= 0.5" }
    tier "silent"  { when = "scores.idle_days < 30" }
    tier "churned" { when = "true" }
  }
  dimension "risk" {
    tier "high"   { when = "scores.fraud_risk >= 85 || scores.churn_risk > 95" }
    tier "watch"  { when = "scores.fraud_risk >= 60 || scores.active_days_7 + scores.active_days_30 < 2.0" }
    tier "normal" { when = "true" }
  }
}
`

// dimensionDue is checked against sampling: from a placement that holds at
// now, the placement stays at every sampled instant before the due instant
// and changes at it.
func TestDimensionDue(t *testing.T) {
	spec, err := ParseModelFile("due.hcl", []byte(dueModel))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel(spec.Params)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 5))
	const now = int64(1_790_000_000_000)
	const horizon = 3 * 365 * Day
	changes, never := 0, 0
	for round := range 300 {
		s := randomState(m, r, now, []int64{Day, 20 * Day, 200 * Day}[round%3])
		for d := range spec.Dimensions {
			p := newPlacer(&spec.Dimensions[d])
			var in RuleInput
			m.ruleInputAt(s, now, &in)
			cur := Placement{Tier: p.place(Placement{Tier: NoTier, Previous: NoTier}, now, &in), Since: now - r.Int64N(12*Day), Previous: NoTier}
			if r.IntN(3) == 0 && cur.Tier != NoTier { // also start from other tiers
				cur.Tier = r.IntN(len(p.dim.Tiers))
			}
			placeAt := func(x int64) int {
				var in RuleInput
				m.ruleInputAt(s, x, &in)
				return p.place(cur, x, &in)
			}
			if placeAt(now) != cur.Tier {
				continue // not a placement the engine would hold at now
			}
			due := m.dimensionDue(s, p, cur, RuleInput{}, now)
			end := now + horizon
			if due != 0 {
				if got := placeAt(due); got == cur.Tier {
					t.Fatalf("round %d %s from %d: no change at the due instant %d", round, p.dim.Name, cur.Tier, due)
				}
				end = due - 1
				changes++
			} else {
				never++
			}
			samples := []int64{end, cur.Since + 10*Day - 1, cur.Since + 7*Day - 1}
			for score := range scoreFields {
				for _, b := range m.breakpoints(s, score, now, new([]int64)) {
					samples = append(samples, b-1, b)
				}
			}
			for range 200 {
				samples = append(samples, now+1+r.Int64N(end-now+1))
			}
			for _, x := range samples {
				if x > now && x <= end && placeAt(x) != cur.Tier {
					t.Fatalf("round %d %s from %d: placement changes at %d, before the due instant %d", round, p.dim.Name, cur.Tier, x, due)
				}
			}
		}
	}
	if changes < 300 || never < 50 {
		t.Errorf("%d placements changed, %d never did: the cases are not varied enough", changes, never)
	}
	t.Logf("%d changes, %d never within the horizon", changes, never)
}

// The value and risk dimensions of examples/default.hcl place users
// exactly like the Go model, and their due instants equal the Go model's
// (valueDue, riskDue) — two independent implementations of the same tiers.
func TestRulesMatchDefaultModel(t *testing.T) {
	spec, m := exampleModel(t, "default.hcl")
	goDim := map[string]int{"value": dimValue, "risk": dimRisk}
	r := rand.New(rand.NewPCG(9, 1))
	const now = int64(1_790_000_000_000)
	dues := 0
	for round := range 500 {
		s := randomState(m, r, now, []int64{Day, 20 * Day, 400 * Day}[round%3])
		for d := range spec.Dimensions {
			p := newPlacer(&spec.Dimensions[d])
			gd, ok := goDim[p.dim.Name]
			if !ok {
				continue // lifecycle: TestRulesMatchDefaultLifecycle
			}
			name := func(tier int) string {
				if tier == NoTier {
					return "-"
				}
				return p.dim.Tiers[tier].Name
			}
			for _, at := range []int64{now, now + r.Int64N(400*Day)} {
				var in RuleInput
				m.ruleInputAt(s, at, &in)
				goTier := m.evaluate(s, at)[gd]
				want := tierNames[gd][goTier]
				placed := p.place(Placement{Tier: NoTier, Previous: NoTier}, at, &in)
				if got := name(placed); got != want {
					t.Fatalf("round %d %s at now+%dms: rules place %s, the Go model %s", round, p.dim.Name, at-now, got, want)
				}
				if got, want := p.dim.Tiers[placed].Reason, m.reasons[gd][goTier]; got != want {
					t.Fatalf("%s %s: reason %q, the Go model's %q", p.dim.Name, name(placed), got, want)
				}
			}
			cur := Placement{Tier: NoTier, Since: now, Previous: NoTier}
			for i, tier := range p.dim.Tiers {
				if tier.Name == tierNames[gd][s.tier[gd]] {
					cur.Tier = i
				}
			}
			want := m.valueDue(s)
			if gd == dimRisk {
				want = m.riskDue(s)
			}
			if got := m.dimensionDue(s, p, cur, RuleInput{}, now); got != want {
				t.Fatalf("round %d %s from %s: due %d, the Go model's %d", round, p.dim.Name, name(cur.Tier), got, want)
			}
			if want != 0 {
				dues++
			}
		}
	}
	t.Logf("%d placements with a due instant", dues)
	if dues < 200 {
		t.Errorf("only %d of 1000 placements had a due instant", dues)
	}
}

// The lifecycle of examples/default.hcl — reactivated is read from the
// tier the user is in and for how long — produces the same transitions at
// the same instants as the Go model over random histories with gaps long
// enough to go silent, churn and come back, timers included.
func TestRulesMatchDefaultLifecycle(t *testing.T) {
	spec, m := exampleModel(t, "default.hcl")
	p := newPlacer(&spec.Dimensions[slices.IndexFunc(spec.Dimensions, func(d DimensionSpec) bool { return d.Name == "lifecycle" })])
	r := rand.New(rand.NewPCG(21, 4))
	type move struct {
		to, reason string
		at         int64
	}
	total := 0
	for round := range 300 {
		s := new(State)
		cur := Placement{Tier: NoTier, Previous: NoTier}
		var want, got []move
		last := int64(1_790_000_000_000)
		advance := func(to int64) { // rule-side timers up to `to`
			for {
				d := m.dimensionDue(s, p, cur, RuleInput{}, last)
				if d == 0 || d > to {
					break
				}
				var in RuleInput
				m.ruleInputAt(s, d, &in)
				next := p.place(cur, d, &in)
				got = append(got, move{p.dim.Tiers[next].Name, p.dim.Tiers[next].Reason, d})
				cur, last = Placement{Tier: next, Since: d, Previous: cur.Tier}, d
			}
		}
		now := last
		for i := range 1 + r.IntN(25) {
			now += []int64{minute, Day, 5 * Day, 10 * Day, 40 * Day}[r.IntN(5)] + r.Int64N(Day)
			advance(now)
			typ := []string{TypeLogin, TypePurchase, TypeView, TypeRefund}[r.IntN(4)]
			// ts = apply time: with backdated events a user can go silent inside
			// the 7 days after a return, and come back within them; the Go model
			// then shows reactivated again until return+7d, the rules active (the
			// rules read the tier the user is in, and reactivated was left).
			e := Event{ID: fmt.Sprint(i), User: "u", Type: typ, TS: now, Amount: 1000}
			for _, tr := range m.Apply(s, &e, now, nil) {
				if tr.Dimension == "lifecycle" {
					want = append(want, move{tr.To, tr.Reason, tr.At})
				}
			}
			var in RuleInput
			m.ruleInputAt(s, now, &in)
			if next := p.place(cur, now, &in); next != cur.Tier {
				got = append(got, move{p.dim.Tiers[next].Name, p.dim.Tiers[next].Reason, now})
				cur = Placement{Tier: next, Since: now, Previous: cur.Tier}
			}
			last = now
		}
		end := now + 400*Day
		advance(end)
		for _, tr := range m.Advance(s, end, nil) {
			if tr.Dimension == "lifecycle" {
				want = append(want, move{tr.To, tr.Reason, tr.At})
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d:\nrules    %v\nGo model %v", round, got, want)
		}
		total += len(want)
	}
	if total < 1000 {
		t.Errorf("only %d transitions compared", total)
	}
	t.Logf("%d lifecycle transitions compared", total)
}

// scoreAt, which computes one score alone, returns exactly what placement
// reads (ruleInputAt through scoresAt) for every score.
func TestScoreAtMatchesRuleInput(t *testing.T) {
	m, err := NewModel(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 8))
	const now = int64(1_790_000_000_000)
	for round := range 300 {
		s := randomState(m, r, now, []int64{Day, 20 * Day, 400 * Day}[round%3])
		if round%10 == 0 {
			s = new(State) // never seen
		}
		at := now + r.Int64N(500*Day)
		var in RuleInput
		m.ruleInputAt(s, at, &in)
		a := newRuleActivation()
		a.set(&in)
		for score := range scoreFields {
			want := float64(a.scores.vals[score].(types.Double))
			if got := m.scoreAt(s, score, at); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("round %d %s: scoreAt %v, placement reads %v", round, scoreFields[score], got, want)
			}
		}
	}
}
