package scoring

// lifecycleAt returns the lifecycle tier at t, first match wins:
// idle ≥ ChurnedAfter → churned; idle ≥ SilentAfter → silent;
// t − first_seen < NewFor → new; t < reactivated_until → reactivated;
// else active. A user never seen (no weight>0 event) has no tier.
func (m *Model) lifecycleAt(s *State, t int64) uint8 {
	if s.flags&flagSeen == 0 {
		return tierNone
	}
	idle := t - s.lastSeen
	switch {
	case idle >= m.churnedAfter:
		return lifeChurned
	case idle >= m.silentAfter:
		return lifeSilent
	case t-s.firstSeen < m.newFor:
		return lifeNew
	case t < s.reactivatedUntil:
		return lifeReactivated
	}
	return lifeActive
}

// lifecycleDue returns the first instant after evalAt at which the lifecycle
// tier changes with time alone, or 0.
func (m *Model) lifecycleDue(s *State) int64 {
	if s.flags&flagSeen == 0 {
		return 0
	}
	// The first candidate after evalAt at which the tier differs: the
	// smallest such one, in any order of trying.
	cur := s.tier[dimLifecycle]
	due := int64(0)
	for _, t := range [4]int64{
		satAdd(s.lastSeen, m.silentAfter),
		satAdd(s.lastSeen, m.churnedAfter),
		satAdd(s.firstSeen, m.newFor),
		s.reactivatedUntil,
	} {
		if t > s.evalAt && (due == 0 || t < due) && m.lifecycleAt(s, t) != cur {
			due = t
		}
	}
	return due
}
