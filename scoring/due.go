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
	atoms []int32 // ids into dimPlan.atoms, ordered by variable (solved together)
	steps []int   // step scores read outside atoms, sorted, once each
	// native are the native rules that decide the placement (numbered as
	// placer.ruleTruths: tier i's when is i, its exit n+i for n tiers),
	// rulesOf[k] those of them that read atoms[k], and cel the others.
	native  []int32
	rulesOf [][]int32
	cel     []int32
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
	n := len(d.Tiers)
	for from := NoTier; from < n; from++ {
		var tp tierPlan
		add := func(r *Rule, num int32) {
			if r.native != nil {
				tp.native = append(tp.native, num)
			} else {
				tp.cel = append(tp.cel, num)
			}
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
				add(d.Tiers[to].When, int32(to))
			}
		}
		if from != NoTier && d.Tiers[from].Exit != nil {
			add(d.Tiers[from].Exit, int32(n+from))
		}
		slices.SortFunc(tp.atoms, func(a, b int32) int {
			return cmp.Or(cmp.Compare(p.atoms[a].score, p.atoms[b].score), cmp.Compare(a, b))
		})
		slices.Sort(tp.steps)
		tp.rulesOf = make([][]int32, len(tp.atoms))
		for k, a := range tp.atoms {
			for _, r := range tp.native {
				if slices.Contains(p.ruleAtoms(r, n), a) {
					tp.rulesOf[k] = append(tp.rulesOf[k], r)
				}
			}
		}
		p.from = append(p.from, tp)
	}
	return p
}

// ruleAtoms returns the atom ids of rule r (numbered as ruleTruths) of a
// dimension of n tiers.
func (p *dimPlan) ruleAtoms(r int32, n int) []int32 {
	if int(r) < n {
		return p.when[r]
	}
	return p.exit[int(r)-n]
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
// solved again. Native rules read the atoms' truths (known from their
// flips) instead of scores, and at a candidate only those reading an atom
// that flips there are evaluated again; rules evaluated by CEL are
// evaluated at every candidate, from the scores there.
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
	f := &p.due
	m.solveFlips(s, p, cur, tp.atoms, after)
	v := &p.vals
	// The native rules' truths at after, from the atoms'.
	v.reset(m, s, after, &in)
	v.setTier(p.dim, cur, after)
	v.truth = p.truth
	for _, id := range tp.atoms {
		p.truth[id] = f.was[id]
	}
	for _, r := range tp.native {
		p.ruleTruths[r] = p.evalRule(r, v)
	}
	t := after
	for range maxDueSteps {
		// The earliest flip, and the atoms (positions in tp.atoms) flipping then.
		next, stale := int64(0), p.stale[:0]
		for k, id := range tp.atoms {
			switch c := f.flips[id]; {
			case c <= t: // never (0)
			case next == 0 || c < next:
				next, stale = c, append(stale[:0], int32(k))
			case c == next:
				stale = append(stale, int32(k))
			}
		}
		atomsNext := next
		earlier := func(c int64) {
			if c > t && (next == 0 || c < next) {
				next = c
			}
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
		if next != atomsNext {
			stale = stale[:0] // no atom flips at next
		}
		p.stale = stale
		v.reset(m, s, next, &in)
		v.truth = p.truth
		for _, k := range stale {
			id := tp.atoms[k]
			p.truth[id] = !p.truth[id]
		}
		for _, k := range stale {
			for _, r := range tp.rulesOf[k] {
				p.ruleTruths[r] = p.evalRule(r, v)
			}
		}
		if len(tp.cel) > 0 {
			v.setTier(p.dim, cur, next)
			for _, r := range tp.cel {
				p.ruleTruths[r] = p.holds(r, v)
			}
		}
		v.rules = p.ruleTruths
		if p.placeVals(cur, next, v) != cur.Tier {
			return next
		}
		t = next
		ids := p.staleIDs[:0]
		for _, k := range stale {
			ids = append(ids, tp.atoms[k])
		}
		p.staleIDs = ids
		m.solveFlips(s, p, cur, ids, t)
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
		m.flips(s, v, cur, after, f)
		ids = ids[n:]
	}
	f.ids = nil
}
