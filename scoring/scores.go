package scoring

// scoresAt computes every score at t (t ≥ the state's evaluation time).
// Floating-point sums run in a fixed order and each product is rounded on
// its own, so results are bit-identical everywhere.
func (m *Model) scoresAt(s *State, t int64) Scores {
	var sc Scores
	if s.activity != 0 {
		sc.Activity = float64(s.activity * decay(t-s.activityAt, m.halfLife))
	}
	today := floorDiv(t, Day)
	for i := len(s.activeDays) - 1; i >= 0 && s.activeDays[i] > today-m.activeLong; i-- {
		if s.activeDays[i] <= today {
			sc.ActiveDays30++
			if s.activeDays[i] > today-m.activeShort {
				sc.ActiveDays7++
			}
		}
	}
	sc.Monetary365d = float64(m.monetaryAt(s, t)) / 1000
	for i := len(s.money) - 1; i >= 0 && s.money[i].day > today-m.purchaseDays; i-- {
		sc.Purchases90d += int(s.money[i].purchases)
	}
	sc.RecencyDays = -1
	if s.flags&flagPurchased != 0 {
		sc.RecencyDays = float64(max(t-s.lastPurchase, 0)) / float64(Day)
	}
	var idleDays float64 // 0 for a user never seen: all churn inputs are 0
	if s.flags&flagSeen != 0 {
		idleDays = float64(max(t-s.lastSeen, 0)) / float64(Day)
	}
	z := m.churnBias + float64(m.churnIdle*idleDays) +
		float64(m.churnA30*float64(sc.ActiveDays30)) + float64(m.churnA7*float64(sc.ActiveDays7))
	sc.ChurnRisk = 100 * sigmoid(z)
	sc.FraudRisk = m.fraudAt(s, t)
	return sc
}
