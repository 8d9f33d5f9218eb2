package scoring

// scoresAt computes every score at t (t ≥ the state's evaluation time).
// Floating-point sums run in a fixed order and each product is rounded on
// its own, so results are bit-identical everywhere.
func (m *Model) scoresAt(s *State, t int64) Scores {
	var sc Scores
	sc.Activity = m.activityAt(s, t)
	sc.ActiveDays7, sc.ActiveDays30 = m.activeDaysAt(s, t)
	sc.Monetary365d = float64(m.monetaryAt(s, t)) / 1000
	sc.Purchases90d = m.purchasesAt(s, t)
	sc.RecencyDays = recencyAt(s, t)
	sc.ChurnRisk = m.churnAt(s, t, sc.ActiveDays7, sc.ActiveDays30)
	sc.FraudRisk = m.fraudAt(s, t)
	return sc
}

// The scores one at a time, each exactly as scoresAt computes it (the timer
// computation evaluates single scores at many instants).

func (m *Model) activityAt(s *State, t int64) float64 {
	if s.activity == 0 {
		return 0
	}
	return float64(s.activity * decay(t-s.activityAt, m.halfLife))
}

// activeDaysAt returns active_days_7 and active_days_30 at t.
func (m *Model) activeDaysAt(s *State, t int64) (short, long int) {
	today := floorDiv(t, Day)
	for i := len(s.activeDays) - 1; i >= 0 && s.activeDays[i] > today-m.activeLong; i-- {
		if s.activeDays[i] <= today {
			long++
			if s.activeDays[i] > today-m.activeShort {
				short++
			}
		}
	}
	return short, long
}

func (m *Model) purchasesAt(s *State, t int64) int {
	today := floorDiv(t, Day)
	n := 0
	for i := len(s.money) - 1; i >= 0 && s.money[i].day > today-m.purchaseDays; i-- {
		n += int(s.money[i].purchases)
	}
	return n
}

func recencyAt(s *State, t int64) float64 {
	if s.flags&flagPurchased == 0 {
		return -1
	}
	return float64(max(t-s.lastPurchase, 0)) / float64(Day)
}

// churnAt returns churn_risk at t given the active days at t.
func (m *Model) churnAt(s *State, t int64, short, long int) float64 {
	var idleDays float64 // 0 for a user never seen: all churn inputs are 0
	if s.flags&flagSeen != 0 {
		idleDays = float64(max(t-s.lastSeen, 0)) / float64(Day)
	}
	z := m.churnBias + float64(m.churnIdle*idleDays) +
		float64(m.churnA30*float64(long)) + float64(m.churnA7*float64(short))
	return 100 * sigmoid(z)
}
