package scoring

import "math"

// monetaryAt returns monetary_365d at t in milli-units: Σ purchases − Σ
// refunds over day buckets with day > floor(t/Day) − MonetaryDays (exact:
// see maxDayAmount). Integer sums do not depend on their order, so it takes
// the cached total of every bucket (State.net) and removes the buckets
// outside the window — none or a few at t ≥ the last prune when the
// monetary window is the longest one — or, when the window is much shorter
// than what is kept, adds up the buckets inside it.
func (m *Model) monetaryAt(s *State, t int64) int64 {
	first := floorDiv(t, Day) - m.monetaryDays
	var sum int64
	if 2*m.monetaryDays < m.moneyKeep {
		for i := len(s.money) - 1; i >= 0 && s.money[i].day > first; i-- {
			b := &s.money[i]
			sum += b.purchase - b.refund
		}
		return sum
	}
	sum = s.net
	for i := 0; i < len(s.money) && s.money[i].day <= first; i++ {
		b := &s.money[i]
		sum -= b.purchase - b.refund
	}
	return sum
}

// valueTier places a monetary_365d (milli-units).
func (m *Model) valueTier(milli int64) uint8 {
	switch {
	case milli <= 0:
		return valueNone
	case milli < m.longTailMilli:
		return valueLongTail
	case milli < m.highPotentialMilli:
		return valueHighPotential
	}
	return valueWhale
}

// valueDue returns the first day boundary after evalAt at which a bucket
// leaving the monetary window changes the value tier, or 0. At the exit of
// bucket i, (day_i + MonetaryDays)·Day, the window holds exactly the
// buckets newer than i; the walk goes from the oldest bucket, keeping that
// sum as the total minus the buckets passed, and stops at the first change.
//
// The result stays valid (State.valueDue) while money, the value tier and
// events > 0 stay: a later evalAt only drops candidates before the cached
// deadline, and pruning only drops buckets whose exit has passed.
func (m *Model) valueDue(s *State) int64 {
	if s.events == 0 {
		return 0
	}
	lo, hi := m.valueRange(s.tier[dimValue])
	rest := s.net // Σ of the buckets newer than i
	money := s.money
	// Buckets whose exit has passed are no candidates (the list is pruned
	// at evalAt, so these are few).
	gone := floorDiv(s.evalAt, Day) - m.monetaryDays // exit ≤ evalAt ⇔ day ≤ gone
	i := 0
	for ; i < len(money) && money[i].day <= gone; i++ {
		rest -= money[i].purchase - money[i].refund
	}
	if lo > hi { // no tier yet: any remaining bucket's exit changes it
		if i < len(money) {
			return (money[i].day + m.monetaryDays) * Day
		}
		return 0
	}
	width := uint64(hi - lo) // rest is in [lo, hi] ⇔ uint64(rest−lo) ≤ width (wrapping)
	for ; i < len(money); i++ {
		b := &money[i]
		rest -= b.purchase - b.refund
		if uint64(rest-lo) > width {
			return (b.day + m.monetaryDays) * Day
		}
	}
	return 0
}

// valueRange returns the monetary_365d range [lo, hi] (milli-units) that
// valueTier places in tier; an empty range for tierNone.
func (m *Model) valueRange(tier uint8) (lo, hi int64) {
	switch tier {
	case valueNone:
		return math.MinInt64, 0
	case valueLongTail:
		return 1, m.longTailMilli - 1
	case valueHighPotential:
		return m.longTailMilli, m.highPotentialMilli - 1
	case valueWhale:
		return m.highPotentialMilli, math.MaxInt64
	}
	return 1, 0
}
