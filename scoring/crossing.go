package scoring

import (
	"slices"

	"github.com/google/cel-go/common/operators"
)

// The instants at which a rule's atom changes with time alone (see
// ruleTiming). Every score is piecewise monotone in time between a user's
// events: step scores are constant between their breakpoints (a day bucket,
// coupon or minute leaving its window); activity only decays; recency, idle
// and age time only grow; churn_risk grows with idle time between its
// breakpoints (active days leaving their windows). So between consecutive
// breakpoints a comparison with a constant flips at most once, and the first
// flip is found exactly: at a breakpoint by evaluating there, inside a
// segment by bisecting on whole milliseconds with the same evaluation the
// placement uses. No formula is inverted, so rounding cannot make a timer
// early or late.

// ruleInputAt fills in with the scores of s at t (t ≥ the state's
// evaluation time); attributes and tags are left as they are.
func (m *Model) ruleInputAt(s *State, t int64, in *RuleInput) {
	in.Scores = m.scoresAt(s, t)
	in.IdleDays, in.AgeDays = -1, -1
	if s.flags&flagSeen != 0 {
		in.IdleDays = float64(max(t-s.lastSeen, 0)) / float64(Day)
		in.AgeDays = float64(max(t-s.firstSeen, 0)) / float64(Day)
	}
}

// scoreAt returns score (an index into scoreFields) of s at t, computing
// that score alone.
func (m *Model) scoreAt(s *State, score int, t int64) float64 {
	switch score {
	case 0:
		return m.activityAt(s, t)
	case 1:
		short, _ := m.activeDaysAt(s, t)
		return float64(short)
	case 2:
		_, long := m.activeDaysAt(s, t)
		return float64(long)
	case 3:
		return float64(m.monetaryAt(s, t)) / 1000
	case 4:
		return float64(m.purchasesAt(s, t))
	case 5:
		return recencyAt(s, t)
	case 6:
		short, long := m.activeDaysAt(s, t)
		return m.churnAt(s, t, short, long)
	case 7:
		return m.fraudAt(s, t)
	case 8:
		if s.flags&flagSeen == 0 {
			return -1
		}
		return float64(max(t-s.lastSeen, 0)) / float64(Day)
	}
	if s.flags&flagSeen == 0 {
		return -1
	}
	return float64(max(t-s.firstSeen, 0)) / float64(Day)
}

// breakpoints returns, ascending and without repeats, the instants after
// `after` at which score can jump: where a step score changes, and where
// churn_risk's idle slope meets an active day leaving a window. The result
// lives in *scratch (reused: valid until the next call with it).
func (m *Model) breakpoints(s *State, score int, after int64, scratch *[]int64) []int64 {
	buf := (*scratch)[:0]
	defer func() { *scratch = buf }()
	if score == varTierDays {
		return buf
	}
	add := func(t int64) {
		if t > after {
			buf = append(buf, t)
		}
	}
	days := func(n int64) {
		for _, d := range s.activeDays {
			add((d + n) * Day)
		}
	}
	switch scoreFields[score] {
	case "active_days_7":
		days(m.activeShort)
	case "active_days_30":
		days(m.activeLong)
	case "churn_risk":
		days(m.activeShort)
		days(m.activeLong)
	case "monetary_365d":
		for _, b := range s.money {
			add((b.day + m.monetaryDays) * Day)
		}
	case "purchases_90d":
		for _, b := range s.money {
			if b.purchases > 0 {
				add((b.day + m.purchaseDays) * Day)
			}
		}
	case "fraud_risk":
		for _, c := range s.coupons {
			add(c + m.couponWindow)
		}
		for _, mb := range s.minutes {
			add((mb.minute + m.burstMinutes) * minute)
		}
		for _, b := range s.money {
			add((b.day + m.refundDays) * Day)
		}
	}
	slices.Sort(buf)
	return slices.Compact(buf)
}

// holds reports whether v op c.
func holds(op string, v, c float64) bool {
	switch op {
	case operators.Less:
		return v < c
	case operators.LessEquals:
		return v <= c
	case operators.Greater:
		return v > c
	case operators.GreaterEquals:
		return v >= c
	case operators.Equals:
		return v == c
	}
	return v != c
}

// varAt returns variable v (a score or tier.days of placement cur) at t.
func (m *Model) varAt(s *State, v int, cur Placement, t int64) float64 {
	if v == varTierDays {
		return cur.tierDays(t)
	}
	return m.scoreAt(s, v, t)
}

// nextFlip returns the first instant t > after (after ≥ the state's
// evaluation time) at which the atom's truth differs from its truth at
// after, for a user placed at cur, or 0 if it never does before MaxTime.
func (m *Model) nextFlip(s *State, a atom, cur Placement, after int64, scratch *[]int64) int64 {
	at := func(t int64) bool { return holds(a.op, m.varAt(s, a.score, cur, t), a.c) }
	was := at(after)
	if flip, ok := m.stepFlip(s, a, was, after); ok {
		return flip
	}
	continuous := motion(a.score) == motionContinuous
	lo := after // the atom holds `was` on (segment start, lo]
	for _, b := range append(m.breakpoints(s, a.score, after, scratch), MaxTime+1) {
		end := min(b-1, MaxTime) // last instant of the segment (lo, b)
		if continuous && end > lo && at(end) != was {
			// Monotone inside the segment: the flip is in (lo, end].
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

// ruleNextChange returns the earliest instant after `after` at which rule
// r's truth can change with time alone: the first flip of any of its atoms,
// or the next breakpoint of a step score it reads in another way; 0: never.
func (m *Model) ruleNextChange(s *State, r *Rule, cur Placement, after int64, scratch *[]int64) int64 {
	next := int64(0)
	earlier := func(t int64) {
		if t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	for _, a := range r.timing.atoms {
		earlier(m.nextFlip(s, a, cur, after, scratch))
	}
	for _, score := range r.timing.steps {
		if bp := m.breakpoints(s, score, after, scratch); len(bp) > 0 {
			earlier(bp[0])
		}
	}
	return next
}

// maxDueSteps bounds how many candidate instants dimensionDue evaluates
// before it settles for a timer at the last one (which then re-evaluates
// there: correct, at worst a firing that changes nothing).
const maxDueSteps = 32

// dimensionDue returns the first instant after `after` (≥ the state's
// evaluation time) at which the user's placement cur in p's dimension
// changes with time alone, or 0 if it never does. in holds the user's
// attributes and tags (events alone change them). Candidates are the
// instants where a rule that can decide the placement changes — the when of
// every tier reachable from cur, cur's exit rule — and the end of cur's
// dwell; the placement is evaluated at each in turn until it changes.
func (m *Model) dimensionDue(s *State, p *placer, cur Placement, in RuleInput, after int64) int64 {
	buf := &p.scratch
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
			earlier(m.ruleNextChange(s, p.dim.Tiers[i].When, cur, t, buf))
		}
		if cur.Tier != NoTier {
			tier := &p.dim.Tiers[cur.Tier]
			if tier.Exit != nil {
				earlier(m.ruleNextChange(s, tier.Exit, cur, t, buf))
			}
			if tier.MinDwell > 0 {
				earlier(cur.Since + tier.MinDwell)
			}
		}
		if next == 0 {
			return 0
		}
		m.ruleInputAt(s, next, &in)
		if p.place(cur, next, &in) != cur.Tier {
			return next
		}
		t = next
	}
	return t
}

// stepFlip finds the flip of an atom over a window count or sum in one pass
// over the buckets, each value kept by subtraction as buckets leave the
// window (exact integer arithmetic, so the values are those scoreAt
// computes); ok is false for scores it does not handle.
func (m *Model) stepFlip(s *State, a atom, was bool, after int64) (flip int64, ok bool) {
	switch a.score {
	case 1, 2: // active_days_7, active_days_30: each day leaves at (d + N)·Day
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
	case 3: // monetary_365d: at bucket i's exit the buckets up to i are out
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
	case 4: // purchases_90d
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
