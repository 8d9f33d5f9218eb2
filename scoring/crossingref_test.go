package scoring

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/cel-go/common/operators"
)

// The timer computation as it was before it was made incremental (issue 5:
// one atom at a time, every score evaluated at every breakpoint, bisection
// over whole segments), kept as the reference the fast one must equal
// instant for instant.

// nextFlipReference is nextFlip evaluating the atom at every breakpoint and
// bisecting whole segments.
func (m *Model) nextFlipReference(s *State, a atom, cur Placement, after int64) int64 {
	at := func(t int64) bool { return holds(a.op, m.varAt(s, a.score, cur, t), a.c) }
	was := at(after)
	if flip, ok := m.stepFlipReference(s, a, was, after); ok {
		return flip
	}
	continuous := motion(a.score) == motionContinuous
	lo := after // the atom holds `was` on (segment start, lo]
	for _, b := range append(m.breakpoints(s, a.score, after, new([]int64)), MaxTime+1) {
		end := min(b-1, MaxTime) // last instant of the segment (lo, b)
		if continuous && end > lo && at(end) != was {
			for lo+1 < end {
				mid := lo + (end-lo)/2
				if at(mid) != was {
					end = mid
				} else {
					lo = mid
				}
			}
			return end
		}
		if b > MaxTime {
			return 0
		}
		if at(b) != was {
			return b
		}
		lo = b
	}
	return 0
}

func (m *Model) stepFlipReference(s *State, a atom, was bool, after int64) (flip int64, ok bool) {
	switch a.score {
	case 1, 2:
		n := m.activeShort
		if a.score == 2 {
			n = m.activeLong
		}
		for i, d := range s.activeDays {
			exit := (d + n) * Day
			if exit > after && holds(a.op, float64(len(s.activeDays)-i-1), a.c) != was {
				return exit, true
			}
		}
		return 0, true
	case 3:
		rest := s.net
		for i := range s.money {
			b := &s.money[i]
			rest -= b.purchase - b.refund
			exit := (b.day + m.monetaryDays) * Day
			if exit > after && holds(a.op, float64(rest)/1000, a.c) != was {
				return exit, true
			}
		}
		return 0, true
	case 4:
		total := 0
		for i := range s.money {
			total += int(s.money[i].purchases)
		}
		for i := range s.money {
			b := &s.money[i]
			total -= int(b.purchases)
			exit := (b.day + m.purchaseDays) * Day
			if b.purchases > 0 && exit > after && holds(a.op, float64(total), a.c) != was {
				return exit, true
			}
		}
		return 0, true
	}
	return 0, false
}

// dimensionDueReference is dimensionDue re-solving every rule's atoms at
// every candidate, placing with CEL.
func (m *Model) dimensionDueReference(s *State, p *placer, cur Placement, in RuleInput, after int64) int64 {
	ruleNext := func(r *Rule, t int64) int64 {
		next := int64(0)
		earlier := func(c int64) {
			if c != 0 && (next == 0 || c < next) {
				next = c
			}
		}
		for _, a := range r.timing.atoms {
			earlier(m.nextFlipReference(s, a, cur, t))
		}
		for _, score := range r.timing.steps {
			if bp := m.breakpoints(s, score, t, new([]int64)); len(bp) > 0 {
				earlier(bp[0])
			}
		}
		return next
	}
	t := after
	for range maxDueSteps {
		next := int64(0)
		earlier := func(c int64) {
			if c > t && (next == 0 || c < next) {
				next = c
			}
		}
		for i := range p.dim.Tiers {
			if cur.Tier != NoTier && p.allowed != nil && !p.allowed[cur.Tier][i] {
				continue
			}
			earlier(ruleNext(p.dim.Tiers[i].When, t))
		}
		if cur.Tier != NoTier {
			tier := &p.dim.Tiers[cur.Tier]
			if tier.Exit != nil {
				earlier(ruleNext(tier.Exit, t))
			}
			if tier.MinDwell > 0 {
				earlier(cur.Since + tier.MinDwell)
			}
		}
		if next == 0 {
			return 0
		}
		m.ruleInputAt(s, next, &in)
		if placeReference(p, cur, next, &in) != cur.Tier {
			return next
		}
		t = next
	}
	return t
}

// placeReference is placer.place with every rule evaluated by CEL.
func placeReference(p *placer, cur Placement, now int64, in *RuleInput) int {
	a := newRuleActivation()
	a.set(in)
	name, previous := "", ""
	if cur.Tier != NoTier {
		name = p.dim.Tiers[cur.Tier].Name
		if cur.Previous != NoTier {
			previous = p.dim.Tiers[cur.Previous].Name
		}
	}
	a.setTier(name, cur.tierDays(now), previous)
	cand := NoTier
	for i := range p.dim.Tiers {
		if cur.Tier != NoTier && p.allowed != nil && !p.allowed[cur.Tier][i] {
			continue
		}
		if ok, _ := p.dim.Tiers[i].When.eval(a); ok {
			cand = i
			break
		}
	}
	switch {
	case cur.Tier == NoTier:
		return cand
	case cand == NoTier, cand == cur.Tier:
		return cur.Tier
	}
	if cand < cur.Tier {
		return cand
	}
	t := &p.dim.Tiers[cur.Tier]
	if t.MinDwell > 0 && now-cur.Since < t.MinDwell {
		return cur.Tier
	}
	if t.Exit != nil {
		if leave, _ := t.Exit.eval(a); !leave {
			return cur.Tier
		}
	}
	return cand
}

// nextFlip equals the reference for every score, operator and threshold
// near the score's values, over random histories, from placements with a
// tier.days, at random instants after the state's evaluation time.
func TestNextFlipMatchesReference(t *testing.T) {
	for _, params := range []func(*Params){
		func(*Params) {},
		func(p *Params) { p.MonetaryDays, p.PurchaseDays, p.RefundDays = 30, 7, 120 },
		func(p *Params) { p.HalfLife *= 37; p.ChurnIdle = -0.2 },
	} {
		p := DefaultParams()
		params(&p)
		m, err := NewModel(p)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(17, 23))
		ops := []string{operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals, operators.Equals, operators.NotEquals}
		const now = int64(1_790_000_000_000)
		compared := 0
		for round := range 300 {
			s := randomState(m, r, now, []int64{Day, 20 * Day, 200 * Day, 400 * Day}[round%4])
			if round%3 == 0 {
				s = denseState(m, r, now, []int64{Day, 60 * Day, 400 * Day}[round%9/3])
			}
			if round%5 == 0 {
				s = denseState(m, r, now, []int64{Day, 60 * Day, 400 * Day}[round%3])
			}
			if round%17 == 0 {
				s = new(State)
			}
			cur := Placement{Tier: NoTier, Previous: NoTier}
			if round%2 == 0 {
				cur = Placement{Tier: 1, Since: now - r.Int64N(10*Day), Previous: NoTier}
			}
			for v := range numVars {
				after := now
				if r.IntN(2) == 0 {
					after += r.Int64N(100 * Day)
				}
				x := m.varAt(s, v, cur, now+r.Int64N(60*Day))
				for _, c := range []float64{x, x * (0.5 + r.Float64()), x + 1, x - 1, 0, -1, float64(r.IntN(40))} {
					op := ops[r.IntN(len(ops))]
					if motion(v) == motionContinuous && (op == operators.Equals || op == operators.NotEquals) {
						op = operators.Less
					}
					a := atom{score: v, op: op, c: c}
					got := m.nextFlip(s, a, cur, after, new([]int64))
					if want := m.nextFlipReference(s, a, cur, after); got != want {
						t.Fatalf("round %d %s %s %v after now+%d: %d, the reference %d", round, varName(v), op, c, after-now, got, want)
					}
					compared++
				}
			}
		}
		t.Logf("%d atoms compared", compared)
	}
}

// stepsModel has a dimension whose atoms flip many times without changing
// the placement (dimensionDue then settles after maxDueSteps candidates),
// one mixing native rules with CEL ones, and one with dwell and moves.
func stepsModel(t testing.TB) *ModelSpec {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("model \"steps\" {\n  version = 1\n  dimension \"many\" {\n")
	for i := range 40 {
		fmt.Fprintf(&sb, "    tier \"t%d\" { when = \"scores.idle_days >= %d.5 && tier.name == 'nowhere' || scores.active_days_30 > %d && false\" }\n", i, i, 40-i)
	}
	sb.WriteString(`    tier "rest" { when = "true" }
  }
  dimension "mixed" {
    tier "a" { when = "scores.monetary_365d / 1000.0 > scores.purchases_90d && scores.fraud_risk < 50" }
    tier "b" {
      when = "scores.activity >= 1.5 || size(tags) > 1"
      exit = "scores.activity < 0.5"
    }
    tier "c" { when = "scores.recency_days < 3 && scores.churn_risk <= 40" }
    tier "d" { when = "true" }
  }
  dimension "dwell" {
    moves = { low = ["mid"], mid = ["top", "low"] }
    tier "top" {
      when      = "scores.purchases_90d >= 3 && scores.age_days >= 2"
      exit      = "scores.purchases_90d < 2 || tier.days >= 20"
      min_dwell = "5d"
    }
    tier "mid" {
      when      = "scores.active_days_7 >= 2 || tier.previous == 'top' && tier.days < 3"
      min_dwell = "2d"
    }
    tier "low" { when = "true" }
  }
}
`)
	spec, err := ParseModelFile("steps.hcl", []byte(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// denseState applies up to 400 random events over the last span ms.
func denseState(m *Model, r *rand.Rand, now, span int64) *State {
	s := new(State)
	types := []string{TypePurchase, TypePurchase, TypeRefund, TypeCoupon, TypeLogin, TypeView, TypeView}
	for i := range 1 + r.IntN(400) {
		typ := types[r.IntN(len(types))]
		e := Event{ID: fmt.Sprint(i), User: "u", Type: typ, TS: now - r.Int64N(span)}
		if typ == TypePurchase || typ == TypeRefund {
			e.Amount = 1000 * (1 + r.Int64N(3_000))
		}
		m.Apply(s, &e, now, nil)
	}
	return s
}

// dimensionDue equals the reference for the dimensions of every example
// model and of the test models, from every tier, over random histories.
func TestDimensionDueMatchesReference(t *testing.T) {
	specs := map[string]*ModelSpec{}
	for _, name := range []string{"default.hcl", "edu-value.hcl", "coupon-abuse.hcl"} {
		spec, err := loadExample(name)
		if err != nil {
			t.Fatal(err)
		}
		specs[name] = spec
	}
	for name, src := range map[string]string{"due.hcl": dueModel, "place.hcl": placeModel} {
		spec, err := ParseModelFile(name, []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		specs[name] = spec
	}
	specs["steps.hcl"] = stepsModel(t)
	specs["thirty.hcl"] = thirtyRules(t)
	r := rand.New(rand.NewPCG(29, 31))
	const now = int64(1_790_000_000_000)
	compared, dues, settled := 0, 0, 0
	for _, name := range []string{"default.hcl", "edu-value.hcl", "coupon-abuse.hcl", "due.hcl", "place.hcl", "steps.hcl", "thirty.hcl"} {
		spec := specs[name]
		m, err := NewModel(spec.Params)
		if err != nil {
			t.Fatal(err)
		}
		for round := range 150 {
			s := randomState(m, r, now, []int64{Day, 20 * Day, 200 * Day, 400 * Day}[round%4])
			if round%3 == 0 {
				s = denseState(m, r, now, []int64{Day, 60 * Day, 400 * Day}[round%9/3])
			}
			for d := range spec.Dimensions {
				p := newPlacer(&spec.Dimensions[d])
				for tier := NoTier; tier < len(p.dim.Tiers); tier++ {
					cur := Placement{Tier: tier, Since: now - r.Int64N(40*Day), Previous: NoTier}
					if tier != NoTier && r.IntN(2) == 0 {
						cur.Previous = r.IntN(len(p.dim.Tiers))
					}
					in := RuleInput{}
					if r.IntN(3) == 0 {
						in.Tags = []string{"coupon_farmer", "returned"}[:r.IntN(3)]
					}
					got := m.dimensionDue(s, p, cur, in, now)
					if want := m.dimensionDueReference(s, p, cur, in, now); got != want {
						t.Fatalf("%s round %d %s from %d: due %d, the reference %d", name, round, p.dim.Name, tier, got, want)
					}
					compared++
					if got != 0 {
						dues++
						var in RuleInput
						m.ruleInputAt(s, got, &in)
						if placeReference(p, cur, got, &in) == cur.Tier {
							settled++ // the step bound: a timer that changes nothing
						}
					}
				}
			}
		}
	}
	t.Logf("%d due instants compared, %d non-zero, %d after %d candidates", compared, dues, settled, maxDueSteps)
	if dues < compared/4 || settled < 50 {
		t.Errorf("only %d of %d due instants non-zero, %d settled by the step bound", dues, compared, settled)
	}
}
