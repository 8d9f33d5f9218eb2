package scoring

// monetaryAt returns monetary_365d at t in milli-units: Σ purchases − Σ
// refunds over day buckets with day > floor(t/Day) − MonetaryDays (exact:
// see maxDayAmount).
func (m *Model) monetaryAt(s *State, t int64) int64 {
	first := floorDiv(t, Day) - m.monetaryDays
	var sum int64
	for i := len(s.money) - 1; i >= 0 && s.money[i].day > first; i-- {
		b := &s.money[i]
		sum += b.purchase - b.refund
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
// leaving the monetary window changes the value tier, or 0.
func (m *Model) valueDue(s *State) int64 {
	if s.events == 0 {
		return 0
	}
	cur := s.tier[dimValue]
	due := int64(0)
	var rest int64 // Σ of the buckets newer than i, newest first
	for i := len(s.money) - 1; i >= 0; i-- {
		b := &s.money[i]
		exit := (b.day + m.monetaryDays) * Day // bucket i and all older ones are out from here
		if exit <= s.evalAt {
			break
		}
		if m.valueTier(rest) != cur {
			due = exit
		}
		rest += b.purchase - b.refund
	}
	return due
}
