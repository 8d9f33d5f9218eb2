package scoring

import (
	"cmp"
	"math"
	"slices"
)

// dimPlan is what of a dimension's rules can change its placement with
// time alone, worked out once per dimension: its distinct atoms and, for
// each tier a user can be in, the atoms and step scores of the rules that
// decide its placement from there (the when of every tier reachable from
// it, its exit rule).
type dimPlan struct {
	atoms      []planAtom
	from       []tierPlan // by tier + 1 (index 0: not placed yet)
	when, exit [][]int32  // by tier: the ids of the atoms of its rules (Rule.timing.atoms order)
}

// tierPlan is the time-dependence of a placement in one tier.
type tierPlan struct {
	atoms  []int32 // ids into dimPlan.atoms, ordered by variable (solved together)
	steps  []int   // step scores read outside atoms, sorted, once each
	native bool    // every rule is native: placements read atom truths
}

// newDimPlan analyses dimension d; allowed is its moves matrix (nil: all
// moves allowed).
func newDimPlan(d *DimensionSpec, allowed [][]bool) *dimPlan {
	p := &dimPlan{}
	type key struct { // an atom, its constant by bits (NaN is one atom)
		score int
		op    string
		c     uint64
	}
	ids := map[key]int32{}
	id := func(a atom) int32 {
		k := key{a.score, a.op, math.Float64bits(a.c)}
		if i, ok := ids[k]; ok {
			return i
		}
		ids[k] = int32(len(p.atoms))
		p.atoms = append(p.atoms, newPlanAtom(a))
		return int32(len(p.atoms) - 1)
	}
	ruleIDs := func(r *Rule) []int32 {
		if r == nil {
			return nil
		}
		out := make([]int32, len(r.timing.atoms))
		for k, a := range r.timing.atoms {
			out[k] = id(a)
		}
		return out
	}
	for _, t := range d.Tiers {
		p.when = append(p.when, ruleIDs(t.When))
		p.exit = append(p.exit, ruleIDs(t.Exit))
	}
	for from := NoTier; from < len(d.Tiers); from++ {
		tp := tierPlan{native: true}
		add := func(r *Rule) {
			tp.native = tp.native && r.native != nil
			for _, a := range r.timing.atoms {
				if i := id(a); !slices.Contains(tp.atoms, i) {
					tp.atoms = append(tp.atoms, i)
				}
			}
			for _, sc := range r.timing.steps {
				if !slices.Contains(tp.steps, sc) {
					tp.steps = append(tp.steps, sc)
				}
			}
		}
		for to := range d.Tiers {
			if from == NoTier || allowed == nil || allowed[from][to] {
				add(d.Tiers[to].When)
			}
		}
		if from != NoTier && d.Tiers[from].Exit != nil {
			add(d.Tiers[from].Exit)
		}
		slices.SortFunc(tp.atoms, func(a, b int32) int {
			return cmp.Or(cmp.Compare(p.atoms[a].score, p.atoms[b].score), cmp.Compare(a, b))
		})
		slices.Sort(tp.steps)
		p.from = append(p.from, tp)
	}
	return p
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
// every tier reachable from cur, cur's exit rule: the flips of their atoms,
// the breakpoints of step scores they read otherwise — and the end of cur's
// dwell; the placement is evaluated at each in turn until it changes.
//
// Each atom's flip is found once and kept while the search moves past
// candidates before it: an atom that does not flip in (t, f) has the same
// truth at every instant of it, so its next flip after any of them is
// still f. Only the atoms that flipped at the candidate just evaluated are
// solved again.
func (m *Model) dimensionDue(s *State, p *placer, cur Placement, in RuleInput, after int64) int64 {
	tp := &p.plan.from[cur.Tier+1]
	dwell := int64(0)
	if cur.Tier != NoTier {
		if d := p.dim.Tiers[cur.Tier].MinDwell; d > 0 {
			dwell = cur.Since + d
		}
	}
	if len(tp.atoms) == 0 && len(tp.steps) == 0 && dwell <= after {
		return 0 // nothing here moves with time
	}
	m.solveFlips(s, p, cur, tp.atoms, after)
	v := &p.vals
	t := after
	for range maxDueSteps {
		next := int64(0)
		earlier := func(c int64) {
			if c > t && (next == 0 || c < next) {
				next = c
			}
		}
		for _, id := range tp.atoms {
			earlier(p.due.flips[id])
		}
		for _, sc := range tp.steps {
			if bp := m.breakpoints(s, sc, t, &p.scratch); len(bp) > 0 {
				earlier(bp[0])
			}
		}
		earlier(dwell)
		if next == 0 {
			return 0
		}
		v.reset(m, s, next, in.Attrs, in.Tags)
		if tp.native { // each atom's truth at next is known: it flips there or keeps its truth
			for _, id := range tp.atoms {
				p.truth[id] = p.due.was[id] != (p.due.flips[id] == next)
			}
			v.truth = p.truth
		}
		if p.placeVals(cur, next, v) != cur.Tier {
			return next
		}
		t = next
		stale := p.stale[:0]
		for _, id := range tp.atoms {
			if p.due.flips[id] == t {
				stale = append(stale, id)
			}
		}
		p.stale = stale
		m.solveFlips(s, p, cur, stale, t)
	}
	return t
}

// solveFlips sets p.due.flips[id] to the next flip after `after` of each
// atom of ids (ordered by variable), solving the atoms of one variable
// together.
func (m *Model) solveFlips(s *State, p *placer, cur Placement, ids []int32, after int64) {
	f := &p.due
	for len(ids) > 0 {
		v := f.atoms[ids[0]].score
		n := 1
		for n < len(ids) && f.atoms[ids[n]].score == v {
			n++
		}
		f.ids = ids[:n]
		m.flips(s, v, cur, after, f, &p.scratch)
		ids = ids[n:]
	}
	f.ids = nil
}
