package scoring

import (
	"math"
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
// segment by searching whole milliseconds with the same evaluation the
// placement uses. No formula is inverted, so rounding cannot make a timer
// early or late: a closed form only hints where the search starts.
//
// The atoms over one variable are solved together (flips): a step score's
// list is walked once, its value kept by subtraction (exact integers), and
// for window sums and counts compared as an integer with the interval where
// no atom changes (region.go). crossingref_test.go keeps the one-atom,
// evaluate-at-every-breakpoint algorithm these must equal.

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

// planAtom is an atom with its operator decoded and, over a window sum or
// count, the integers where it holds.
type planAtom struct {
	atom
	op     cmpOp
	region intRegion // monetary_365d in milli-units, active_days_*, purchases_90d
}

func newPlanAtom(a atom) planAtom {
	p := planAtom{atom: a, op: cmpOps[a.op]}
	switch a.score {
	case 1, 2, 4:
		p.region = newIntRegion(p.op, a.c, func(n int64) float64 { return float64(n) })
	case 3:
		p.region = newIntRegion(p.op, a.c, func(n int64) float64 { return float64(n) / 1000 })
	}
	return p
}

// flipSet is a set of atoms over one variable whose next flips after an
// instant are found together (one walk over the state's lists for all).
type flipSet struct {
	atoms []planAtom // by id
	ids   []int32    // the atoms to solve, all over the same variable
	was   []bool     // by id: the atom's truth at the instant searched from
	flips []int64    // by id: the flip found, 0 for none
	left  int        // atoms of ids without a flip yet
}

// at records that the variable is val from b on (until the next
// breakpoint), and reports whether every atom has its flip.
func (f *flipSet) at(b int64, val float64) bool {
	for _, id := range f.ids {
		if a := &f.atoms[id]; f.flips[id] == 0 && a.op.holds(val, a.c) != f.was[id] {
			f.flips[id] = b
			f.left--
		}
	}
	return f.left == 0
}

// atInt is at for a window sum or count n (planAtom.region).
func (f *flipSet) atInt(b int64, n int64) bool {
	for _, id := range f.ids {
		if f.flips[id] == 0 && f.atoms[id].region.contains(n) != f.was[id] {
			f.flips[id] = b
			f.left--
		}
	}
	return f.left == 0
}

// cell returns the values around n (where every atom left has its truth
// at n) over which no atom left changes.
func (f *flipSet) cell(n int64) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	for _, id := range f.ids {
		if f.flips[id] == 0 {
			f.atoms[id].region.cell(n, &lo, &hi)
		}
	}
	return lo, hi
}

// nextFlip returns the first instant t > after (after ≥ the state's
// evaluation time) at which the atom's truth differs from its truth at
// after, for a user placed at cur, or 0 if it never does before MaxTime.
// (The last argument, a breakpoint buffer, is no longer needed.)
func (m *Model) nextFlip(s *State, a atom, cur Placement, after int64, _ *[]int64) int64 {
	f := flipSet{atoms: []planAtom{newPlanAtom(a)}, ids: []int32{0}, was: make([]bool, 1), flips: make([]int64, 1)}
	m.flips(s, a.score, cur, after, &f)
	return f.flips[0]
}

// flips sets f.flips[id] to nextFlip(f.atoms[id], after) for every id of
// f.ids, all atoms over variable v.
func (m *Model) flips(s *State, v int, cur Placement, after int64, f *flipSet) {
	switch v {
	case 1, 2: // the window walks start from the value at after, as scoreAt computes it
		m.activeDayFlips(s, v, after, f)
		return
	case 3:
		m.monetaryFlips(s, after, f)
		return
	case 4:
		m.purchaseFlips(s, after, f)
		return
	case 7:
		m.fraudFlips(s, after, f)
		return
	}
	f.start(m.varAt(s, v, cur, after))
	if v == 6 { // churn_risk: continuous between active days leaving their windows
		for _, id := range f.ids {
			f.flips[id] = m.churnFlip(s, &f.atoms[id], after, f.was[id])
		}
		return
	}
	for _, id := range f.ids { // continuous and monotone, no breakpoint
		f.flips[id] = m.monotoneFlip(s, &f.atoms[id], cur, after, f.was[id])
	}
}

// start sets the atoms' truths from the variable's value val at the
// instant searched from; no flip found yet.
func (f *flipSet) start(val float64) {
	for _, id := range f.ids {
		a := &f.atoms[id]
		f.was[id], f.flips[id] = a.op.holds(val, a.c), 0
	}
	f.left = len(f.ids)
}

// startInt is start for a window sum or count n.
func (f *flipSet) startInt(n int64) {
	for _, id := range f.ids {
		f.was[id], f.flips[id] = f.atoms[id].region.contains(n), 0
	}
	f.left = len(f.ids)
}

// Step scores: one pass over the sorted list whose exits change the score,
// the value kept by subtraction as elements leave their window (exact
// integer arithmetic, so the values are those scoreAt computes at each
// exit), until every atom has flipped.

// activeDayFlips: active_days_7 (v = 1) or _30 (v = 2); day i leaves at
// (d + N)·Day, after which the days after it remain.
func (m *Model) activeDayFlips(s *State, v int, after int64, f *flipSet) {
	n := m.activeShort
	if v == 2 {
		n = m.activeLong
	}
	days := s.activeDays
	i := 0
	for i < len(days) && (days[i]+n)*Day <= after {
		i++
	}
	left := int64(len(days) - i) // the days counted at after (all are ≤ its day)
	f.startInt(left)
	lo, hi := f.cell(left)
	for ; i < len(days); i++ {
		if left--; left >= lo && left <= hi {
			continue
		}
		if f.atInt((days[i]+n)*Day, left) {
			return
		}
		lo, hi = f.cell(left)
	}
}

// monetaryFlips: monetary_365d; at bucket i's exit the buckets up to i are
// out.
func (m *Model) monetaryFlips(s *State, after int64, f *flipSet) {
	rest := s.net
	i := 0
	for ; i < len(s.money) && (s.money[i].day+m.monetaryDays)*Day <= after; i++ {
		rest -= s.money[i].purchase - s.money[i].refund
	}
	f.startInt(rest) // monetaryAt(after) in milli-units: integer sums in any order are exact
	lo, hi := f.cell(rest)
	for ; i < len(s.money); i++ {
		b := &s.money[i]
		if rest -= b.purchase - b.refund; rest >= lo && rest <= hi {
			continue
		}
		if f.atInt((b.day+m.monetaryDays)*Day, rest) {
			return
		}
		lo, hi = f.cell(rest)
	}
}

// purchaseFlips: purchases_90d.
func (m *Model) purchaseFlips(s *State, after int64, f *flipSet) {
	total := int64(0)
	for i := range s.money {
		total += int64(s.money[i].purchases)
	}
	i := 0
	for ; i < len(s.money) && (s.money[i].day+m.purchaseDays)*Day <= after; i++ {
		total -= int64(s.money[i].purchases)
	}
	f.startInt(total)
	lo, hi := f.cell(total)
	for ; i < len(s.money); i++ {
		b := &s.money[i]
		if total -= int64(b.purchases); total >= lo && total <= hi {
			continue
		}
		if f.atInt((b.day+m.purchaseDays)*Day, total) {
			return
		}
		lo, hi = f.cell(total)
	}
}

// fraudFlips: fraud_risk changes where a coupon, a minute or a day bucket
// leaves its window. The walk merges the three lists in time order, keeping
// the coupon count, the peak minute and the refund window's sums, and
// computes the score (an exp) only when its logit changes. Without refunds
// left in the window the refund ratio is 0 from then on, so the buckets'
// exits are not walked.
func (m *Model) fraudFlips(s *State, after int64, f *flipSet) {
	couponExit := func(i int) int64 { return s.coupons[i] + m.couponWindow }
	minuteExit := func(i int) int64 { return (s.minutes[i].minute + m.burstMinutes) * minute }
	bucketExit := func(i int) int64 { return (s.money[i].day + m.refundDays) * Day }
	ci, mi, bi := 0, 0, 0 // the first element of each list still counted
	for ci < len(s.coupons) && couponExit(ci) <= after {
		ci++
	}
	for mi < len(s.minutes) && minuteExit(mi) <= after {
		mi++
	}
	for bi < len(s.money) && bucketExit(bi) <= after {
		bi++
	}
	peak := maxCount(s.minutes[mi:])
	var bought, refunded int64
	for i := bi; i < len(s.money); i++ {
		bought += s.money[i].purchase
		refunded += s.money[i].refund
	}
	// The inputs at after are exactly fraudInputsAt's: the elements whose
	// exit is later.
	lastZ := m.fraudZ(fraudInputs{coupons: len(s.coupons) - ci, ratio: refundRatio(bought, refunded), peak: peak})
	val := 100 * sigmoid(lastZ)
	f.start(val)
	const none = math.MaxInt64
	for {
		next := int64(none)
		if ci < len(s.coupons) {
			next = couponExit(ci)
		}
		if mi < len(s.minutes) {
			next = min(next, minuteExit(mi))
		}
		if refunded == 0 {
			bi = len(s.money) // the ratio stays 0
		}
		if bi < len(s.money) {
			next = min(next, bucketExit(bi))
		}
		if next == none {
			return
		}
		for ci < len(s.coupons) && couponExit(ci) <= next {
			ci++
		}
		recount := false
		for mi < len(s.minutes) && minuteExit(mi) <= next {
			recount = recount || s.minutes[mi].count == peak
			mi++
		}
		if recount {
			peak = maxCount(s.minutes[mi:])
		}
		for bi < len(s.money) && bucketExit(bi) <= next {
			bought -= s.money[bi].purchase
			refunded -= s.money[bi].refund
			bi++
		}
		z := m.fraudZ(fraudInputs{coupons: len(s.coupons) - ci, ratio: refundRatio(bought, refunded), peak: peak})
		if math.Float64bits(z) != math.Float64bits(lastZ) {
			val, lastZ = 100*sigmoid(z), z
		}
		if f.at(next, val) {
			return
		}
	}
}

// churnFlip finds an atom's flip over churn_risk, which moves with idle
// time (monotonically) between the instants an active day leaves the short
// or the long window: at such an instant by evaluating there, inside a
// segment by bisecting whole milliseconds (the flip is in (lo, end] when
// the atom differs at end). The day counts are kept as the walk passes the
// exits, so each probe is churnAt with the counts activeDaysAt would find.
func (m *Model) churnFlip(s *State, a *planAtom, after int64, was bool) int64 {
	days := s.activeDays
	si, li := 0, 0 // the first day still counted in the short and the long window
	exitS := func(i int) int64 { return (days[i] + m.activeShort) * Day }
	exitL := func(i int) int64 { return (days[i] + m.activeLong) * Day }
	for si < len(days) && exitS(si) <= after {
		si++
	}
	for li < len(days) && exitL(li) <= after {
		li++
	}
	at := func(t int64) bool { return a.op.holds(m.churnAt(s, t, len(days)-si, len(days)-li), a.c) }
	lo := after // the atom holds `was` on (segment start, lo]
	for {
		b := int64(MaxTime + 1)
		if si < len(days) {
			b = exitS(si)
		}
		if li < len(days) {
			b = min(b, exitL(li))
		}
		end := min(b-1, MaxTime) // last instant of the segment (lo, b)
		if end > lo && at(end) != was {
			return bisectFlip(at, was, lo, end)
		}
		if b > MaxTime {
			return 0
		}
		for si < len(days) && exitS(si) <= b {
			si++
		}
		for li < len(days) && exitL(li) <= b {
			li++
		}
		if at(b) != was {
			return b
		}
		lo = b
	}
}

// bisectFlip returns the least t in (lo, hi] at which at differs from was,
// given at(lo) = was, at(hi) ≠ was and at monotone on [lo, hi].
func bisectFlip(at func(int64) bool, was bool, lo, hi int64) int64 {
	for lo+1 < hi {
		mid := lo + (hi-lo)/2
		if at(mid) != was {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// monotoneFlip finds the flip of an atom over a variable that moves
// continuously and monotonically with time and has no breakpoint: idle,
// age and recency time and tier.days grow linearly, activity decays. The
// flip is the least instant in (after, MaxTime] where the atom differs,
// if it differs at MaxTime. The crossing computed in closed form is only a
// hint: the search gallops from it to a bracket and bisects, evaluating the
// variable as placement does, so the result is that least instant (the one
// a bisection of the whole range finds) whatever the hint's rounding.
func (m *Model) monotoneFlip(s *State, a *planAtom, cur Placement, after int64, was bool) int64 {
	at := func(t int64) bool { return a.op.holds(m.varAt(s, a.score, cur, t), a.c) }
	if after >= MaxTime || at(MaxTime) == was {
		return 0
	}
	lo, hi := after, int64(MaxTime) // at(lo) = was, at(hi) ≠ was
	if h, ok := m.crossingHint(s, a, cur); ok && h > lo && h < hi {
		if at(h) != was {
			hi = h
			for step := int64(1); hi-step > lo; step *= 2 {
				if at(hi-step) == was {
					lo = hi - step
					break
				}
				hi -= step
			}
		} else {
			lo = h
			for step := int64(1); lo+step < hi; step *= 2 {
				if at(lo+step) != was {
					hi = lo + step
					break
				}
				lo += step
			}
		}
	}
	return bisectFlip(at, was, lo, hi)
}

// crossingHint returns about the instant a monotone variable crosses the
// atom's constant.
func (m *Model) crossingHint(s *State, a *planAtom, cur Placement) (int64, bool) {
	var ref int64 // linear variables: (t − ref)/Day
	switch a.score {
	case varTierDays:
		ref = cur.Since
	case 5:
		ref = s.lastPurchase
	case 8:
		ref = s.lastSeen
	case 9:
		ref = s.firstSeen
	case 0: // activity·2^(−(t − activityAt)/halfLife)
		if s.activity <= 0 || a.c <= 0 {
			return 0, false
		}
		h := float64(s.activityAt) + float64(m.halfLife*float64(detLog(s.activity/a.c)/math.Ln2))
		return hintOf(h)
	default:
		return 0, false
	}
	return hintOf(float64(ref) + float64(a.c*float64(Day)))
}

func hintOf(h float64) (int64, bool) {
	if !(h > 0 && h < float64(MaxTime)) { // also NaN
		return 0, false
	}
	return int64(h), true
}
