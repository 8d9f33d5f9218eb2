package scoring

// Moving a user from one model to another (a model promotion, a shadow
// model started beside the active one). A State's aggregates — activity,
// day buckets, coupons, minutes, counters — are the same structure under
// every model; only the placements belong to a model. Rebase keeps the
// aggregates and places the user afresh under the new model.

// Seq returns how many transitions the user had in dimension dim (an index
// into the model's Dimensions): the Seq of its last transition there, 0 for
// none or an out-of-range dim.
func (s *State) Seq(dim int) uint64 {
	if len(s.places) > 0 {
		if dim < 0 || dim >= len(s.places) {
			return 0
		}
		return s.places[dim].seq
	}
	if dim < 0 || dim >= numDims {
		return 0
	}
	return s.seq[dim]
}

// SetSeq sets how many transitions the user had in dimension dim (see
// Seq): a model change that moves users silently keeps their published
// sequence numbers. Out-of-range dims are ignored.
func (s *State) SetSeq(dim int, seq uint64) {
	if len(s.places) > 0 {
		if dim >= 0 && dim < len(s.places) {
			s.places[dim].seq = seq
		}
		return
	}
	if dim >= 0 && dim < numDims {
		s.seq[dim] = seq
	}
}

// EvaluatedAt returns the instant (Unix ms) s was last evaluated at: the
// time of its last Apply or Advance.
func (s *State) EvaluatedAt() int64 { return s.evalAt }

// Rebase places the user of s afresh under m at the state's evaluation time,
// as if m had always been its model but had not placed it yet, and appends
// one transition per dimension whose new tier differs from from[d] (the
// tier name the user had in a dimension of that name under its previous
// model, "" for none; a missing entry counts as ""). Dimension d's sequence
// numbers continue from seq[d]: a transition gets seq[d]+1, and a dimension
// with no transition keeps seq[d]. The transitions have At = the evaluation
// time, Cause = cause and the reason of the tier entered. The aggregates are
// kept as they are: a state built under other score parameters keeps what
// that model kept (its windows, its activity weights) until new events and
// time replace it.
func (m *Model) Rebase(s *State, from []string, seq []uint64, cause string, out []Transition) []Transition {
	s.places = s.places[:0]
	s.tier, s.seq = [numDims]uint8{}, [numDims]uint64{}
	t := s.evalAt
	target := m.evaluate(s, t)
	sc := m.scoresAt(s, t)
	for d := range numDims {
		s.tier[d] = target[d]
		s.seq[d] = seqAt(seq, d)
		to := tierNames[d][target[d]]
		if target[d] == tierNone || to == nameAt(from, d) {
			continue
		}
		s.seq[d]++
		out = append(out, Transition{Dimension: dimNames[d], From: nameAt(from, d), To: to, Seq: s.seq[d],
			At: t, Reason: m.reasons[d][target[d]], Cause: cause, Scores: sc})
	}
	s.valueDueOK, s.dueOK = false, false
	return out
}

// Rebase is Model.Rebase for a rule model: every dimension is placed as for
// a user not placed yet (so hysteresis and dwell start at the evaluation
// time).
func (m *RuleModel) Rebase(s *State, from []string, seq []uint64, cause string, out []Transition) []Transition {
	s.tier, s.seq = [numDims]uint8{}, [numDims]uint64{}
	s.places = s.places[:0]
	places := m.places(s)
	t := s.evalAt
	ps := m.placers.Get().([]*placer)
	defer m.placers.Put(ps)
	in := m.userInput(s)
	m.base.ruleInputAt(s, t, &in)
	for d := range places {
		pl := &places[d]
		pl.seq = seqAt(seq, d)
		next := ps[d].place(pl.placement(), t, &in)
		if next == NoTier {
			continue
		}
		pl.tier, pl.since = next, t
		tier := &m.spec.Dimensions[d].Tiers[next]
		if tier.Name == nameAt(from, d) {
			continue
		}
		pl.seq++
		out = append(out, Transition{Dimension: m.dims[d].Name, From: nameAt(from, d), To: tier.Name,
			Seq: pl.seq, At: t, Reason: tier.Reason, Cause: cause, Scores: in.Scores})
	}
	s.dueOK = false
	return out
}

func seqAt(xs []uint64, i int) uint64 {
	if i < len(xs) {
		return xs[i]
	}
	return 0
}

func nameAt(xs []string, i int) string {
	if i < len(xs) {
		return xs[i]
	}
	return ""
}

// Adopt keeps the user's placements in s (a state this model has been
// evaluating, as a shadow) and takes it over from a previous model: the
// sequence numbers of dimension d continue from seq[d], and a transition is
// appended for every dimension whose tier differs from from[d], at the
// state's evaluation time with Cause = cause.
func (m *Model) Adopt(s *State, from []string, seq []uint64, cause string, out []Transition) []Transition {
	t := s.evalAt
	sc, scored := Scores{}, false
	for d := range numDims {
		s.seq[d] = seqAt(seq, d)
		to := tierNames[d][s.tier[d]]
		if s.tier[d] == tierNone || to == nameAt(from, d) {
			continue
		}
		if !scored {
			sc, scored = m.scoresAt(s, t), true
		}
		s.seq[d]++
		out = append(out, Transition{Dimension: dimNames[d], From: nameAt(from, d), To: to, Seq: s.seq[d],
			At: t, Reason: m.reasons[d][s.tier[d]], Cause: cause, Scores: sc})
	}
	return out
}

// Adopt is Model.Adopt for a rule model.
func (m *RuleModel) Adopt(s *State, from []string, seq []uint64, cause string, out []Transition) []Transition {
	t := s.evalAt
	places := m.places(s)
	sc, scored := Scores{}, false
	for d := range places {
		pl := &places[d]
		pl.seq = seqAt(seq, d)
		if pl.tier == NoTier {
			continue
		}
		tier := &m.spec.Dimensions[d].Tiers[pl.tier]
		if tier.Name == nameAt(from, d) {
			continue
		}
		if !scored {
			sc, scored = m.base.Scores(s, t), true
		}
		pl.seq++
		out = append(out, Transition{Dimension: m.dims[d].Name, From: nameAt(from, d), To: tier.Name,
			Seq: pl.seq, At: t, Reason: tier.Reason, Cause: cause, Scores: sc})
	}
	return out
}
