package scoring

import (
	"fmt"
	"sync"
)

// placeState is a user's place in one dimension of a rule model, kept in
// its State: the tier (index into the dimension's tiers, NoTier), the one
// before, when it was entered and the dimension's transition count.
type placeState struct {
	tier, previous int
	since          int64
	seq            uint64
}

func (p placeState) placement() Placement {
	return Placement{Tier: p.tier, Since: p.since, Previous: p.previous}
}

// maxRuleDims bounds a rule model's dimensions (and a decoded state's).
const maxRuleDims = 64

// RuleModel is a model file's tiers over the built-in scores: the scores
// come from the model's score parameters, the tiers from its rules
// (placement rules on placer.place, timers from dimensionDue). It has the
// contract of Model — Apply, Advance, NextDue, Scores, Dimensions, Name — and
// keeps each user's placements in its State. It is immutable and safe for
// concurrent use; the States it is applied to are not.
type RuleModel struct {
	spec    *ModelSpec
	base    *Model // score parameters; its own tiers are unused
	dims    []Dimension
	plans   []*dimPlan // by dimension, shared by the placers
	scratch sync.Pool  // *ruleScratch: Apply, Advance, NextDue
	placers sync.Pool  // []*placer, one per dimension: Rebase
	// rfm are the population's RFM edges (rulemodel_rfm.go); readsRFM says
	// whether any rule reads them.
	rfm      rfmEdges
	readsRFM bool
}

// ruleScratch is what one Apply, Advance or NextDue reuses: a placer per
// dimension and the values its rules read.
type ruleScratch struct {
	placers []*placer
	vals    ruleVals
}

func (m *RuleModel) newPlacers() []*placer {
	ps := make([]*placer, len(m.spec.Dimensions))
	for i := range m.spec.Dimensions {
		ps[i] = newPlanPlacer(&m.spec.Dimensions[i], m.plans[i])
	}
	return ps
}

// NewRuleModel returns the model of a parsed model file.
func NewRuleModel(spec *ModelSpec) (*RuleModel, error) {
	base, err := NewModel(spec.Params)
	if err != nil {
		return nil, err
	}
	if len(spec.Dimensions) > maxRuleDims {
		return nil, fmt.Errorf("%w: %d dimensions, at most %d", ErrInvalidModel, len(spec.Dimensions), maxRuleDims)
	}
	m := &RuleModel{spec: spec, base: base, readsRFM: specReadsRFM(spec)}
	for _, d := range spec.Dimensions {
		dim := Dimension{Name: d.Name}
		for _, t := range d.Tiers {
			dim.Tiers = append(dim.Tiers, t.Name)
		}
		m.dims = append(m.dims, dim)
	}
	for i := range spec.Dimensions {
		m.plans = append(m.plans, newPlacer(&spec.Dimensions[i]).plan)
	}
	m.scratch.New = func() any { return &ruleScratch{placers: m.newPlacers()} }
	m.placers.New = func() any { return m.newPlacers() }
	return m, nil
}

// Name returns "name@vVersion".
func (m *RuleModel) Name() string { return m.spec.ID() }

// Dimensions returns the dimensions and their tiers in file order (a copy).
func (m *RuleModel) Dimensions() []Dimension {
	out := make([]Dimension, len(m.dims))
	for i, d := range m.dims {
		out[i] = Dimension{Name: d.Name, Tiers: append([]string(nil), d.Tiers...)}
	}
	return out
}

// Scores returns the user's scores at now (as Model.Scores).
func (m *RuleModel) Scores(s *State, now int64) Scores { return m.base.Scores(s, now) }

// places returns s's placements, creating them for a fresh state. A
// placement that names no tier of its dimension (a state decoded under
// another model) is taken as none: the same on every replica.
func (m *RuleModel) places(s *State) []placeState {
	if len(s.places) != len(m.dims) {
		s.places = s.places[:0]
		for range m.dims {
			s.places = append(s.places, placeState{tier: NoTier, previous: NoTier})
		}
	}
	for d := range s.places {
		p, n := &s.places[d], len(m.dims[d].Tiers)
		if p.tier < NoTier || p.tier >= n {
			p.tier = NoTier
		}
		if p.previous < NoTier || p.previous >= n {
			p.previous = NoTier
		}
	}
	return s.places
}

// Apply folds one event into s at now and appends the transitions, as
// Model.Apply: first the timers due up to now (Cause "timer", At = their
// instant), then the event's (Cause = its ID, At = now).
func (m *RuleModel) Apply(s *State, e *Event, now int64, out []Transition) []Transition {
	sc := m.scratch.Get().(*ruleScratch)
	out = m.advance(s, sc, now, out)
	now = s.evalAt
	m.base.fold(s, e, now)
	m.foldCounters(s, e)
	s.events++
	out = m.place(s, sc, now, e.ID, out)
	s.due, s.dueOK = m.computeDue(s, sc), true
	m.scratch.Put(sc)
	return out
}

// Advance moves s to now without an event: every instant ≤ now at which a
// placement changes is evaluated in time order and its transitions appended
// with At = that instant and Cause "timer".
func (m *RuleModel) Advance(s *State, now int64, out []Transition) []Transition {
	sc := m.scratch.Get().(*ruleScratch)
	out = m.advance(s, sc, now, out)
	m.scratch.Put(sc)
	return out
}

func (m *RuleModel) advance(s *State, sc *ruleScratch, now int64, out []Transition) []Transition {
	if now < s.evalAt {
		now = s.evalAt
	}
	for {
		if !s.dueOK {
			s.due, s.dueOK = m.computeDue(s, sc), true
		}
		d := s.due
		if d == 0 || d > now {
			break
		}
		s.evalAt = d
		out = m.place(s, sc, d, CauseTimer, out)
		s.prune(m.base, d)
		s.due, s.dueOK = m.computeDue(s, sc), true
	}
	if s.evalAt != now {
		s.evalAt = now
		s.prune(m.base, now)
	}
	return out
}

// NextDue returns the earliest instant after the state's evaluation time at
// which a placement changes with time alone, or 0.
func (m *RuleModel) NextDue(s *State) int64 {
	if !s.dueOK {
		sc := m.scratch.Get().(*ruleScratch)
		s.due, s.dueOK = m.computeDue(s, sc), true
		m.scratch.Put(sc)
	}
	return s.due
}

func (m *RuleModel) computeDue(s *State, sc *ruleScratch) int64 {
	due := int64(0)
	in := m.userInput(s)
	for i, pl := range m.places(s) {
		if d := m.base.dimensionDue(s, sc.placers[i], pl.placement(), in, s.evalAt); d != 0 && (due == 0 || d < due) {
			due = d
		}
	}
	return due
}

// place evaluates every dimension at t and appends a transition for each
// that changed. The dimensions share the scores they read, each computed
// once, on first read; a transition carries every score.
func (m *RuleModel) place(s *State, sc *ruleScratch, t int64, cause string, out []Transition) []Transition {
	v := &sc.vals
	in := m.userInput(s)
	v.reset(m.base, s, t, &in)
	var scores Scores
	scored := false
	places := m.places(s)
	for d := range places {
		pl := &places[d]
		next := sc.placers[d].placeVals(pl.placement(), t, v)
		if next == pl.tier {
			continue
		}
		if !scored {
			scores, scored = m.base.scoresAt(s, t), true
		}
		tier := &m.spec.Dimensions[d].Tiers[next]
		from := ""
		if pl.tier != NoTier {
			from = m.dims[d].Tiers[pl.tier]
		}
		pl.seq++
		out = append(out, Transition{
			Dimension: m.dims[d].Name, From: from, To: tier.Name, Seq: pl.seq,
			At: t, Reason: tier.Reason, Cause: cause, Scores: scores,
		})
		pl.previous, pl.tier, pl.since = pl.tier, next, t
	}
	return out
}
