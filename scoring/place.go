package scoring

import "slices"

// NoTier is the tier index of a user not placed in a dimension yet.
const NoTier = -1

// Placement is a user's position in one dimension, as placement rules read it.
type Placement struct {
	Tier     int   // index into DimensionSpec.Tiers, or NoTier
	Since    int64 // Unix ms the user entered Tier
	Previous int   // the tier before Tier, or NoTier
}

// tierDays is the tier.days a rule reads at t: days since the user entered
// its tier, 0 when it has none.
func (c Placement) tierDays(t int64) float64 {
	if c.Tier == NoTier {
		return 0
	}
	return float64(max(t-c.Since, 0)) / float64(Day)
}

// placer evaluates one dimension's tiers; it is not safe for concurrent use
// (it reuses its activation and scratch buffers), one per shard.
type placer struct {
	dim *DimensionSpec
	act *ruleActivation // for rules evaluated by CEL
	// allowed[from][to]: the move is in the dimension's moves (nil: all allowed).
	allowed [][]bool
	plan    *dimPlan
	vals    ruleVals // the values placement reads, reused
	due     flipSet  // the atoms' next flips, reused by dimensionDue
	truth   []bool   // the atoms' truths at a candidate instant, reused by dimensionDue
	// ruleTruths are the rules' truths at a candidate instant, reused by
	// dimensionDue: tier i's when at i, its exit at len(tiers)+i.
	ruleTruths []bool
	stale      []int32 // positions in a tierPlan's atoms, reused by dimensionDue
	staleIDs   []int32 // their ids
	scratch    []int64 // breakpoints, reused by dimensionDue
}

func newPlacer(d *DimensionSpec) *placer {
	return newPlanPlacer(d, nil)
}

// newPlanPlacer returns a placer of d; plan is d's plan (newDimPlan), or
// nil to work it out.
func newPlanPlacer(d *DimensionSpec, plan *dimPlan) *placer {
	p := &placer{dim: d, act: newRuleActivation()}
	if d.Moves != nil {
		p.allowed = make([][]bool, len(d.Tiers))
		for from, t := range d.Tiers {
			p.allowed[from] = make([]bool, len(d.Tiers))
			tos := d.Moves[t.Name]
			for to, u := range d.Tiers {
				p.allowed[from][to] = from == to || tos == nil || slices.Contains(tos, u.Name)
			}
		}
	}
	if plan == nil {
		plan = newDimPlan(d, p.allowed)
	}
	p.plan = plan
	p.due = flipSet{atoms: plan.atoms, was: make([]bool, len(plan.atoms)), flips: make([]int64, len(plan.atoms))}
	p.truth = make([]bool, len(plan.atoms))
	p.ruleTruths = make([]bool, 2*len(d.Tiers))
	return p
}

// place returns the tier of a user at now whose current placement is cur and
// whose rules read in (and tier: cur's name, days since Since, previous).
// The rules, in order:
//
//  1. The candidate is the first tier, in the dimension's order, whose when
//     holds and which the dimension's moves allow from cur (moves lists, per
//     tier, where a user in it may go; a tier absent from moves may go
//     anywhere).
//  2. A user not placed yet is placed in the candidate (or stays unplaced
//     when no when holds).
//  3. A user placed in a tier never becomes unplaced: without a candidate
//     the user stays.
//  4. A candidate before the user's tier in the order wins at once:
//     entering a tier is never delayed by the tier left (its dwell or its
//     exit rule).
//  5. A candidate after it wins only once min_dwell has passed since the
//     user entered its tier, and only when the tier's exit rule holds, or,
//     for a tier without one, when its own when no longer holds (which is
//     why the candidate comes after it).
func (p *placer) place(cur Placement, now int64, in *RuleInput) int {
	p.vals.setInput(in)
	return p.placeVals(cur, now, &p.vals)
}

// placeVals is place reading v (its tier fields are set here).
func (p *placer) placeVals(cur Placement, now int64, v *ruleVals) int {
	v.setTier(p.dim, cur, now)
	cand := NoTier
	for i := range p.dim.Tiers {
		if cur.Tier != NoTier && p.allowed != nil && !p.allowed[cur.Tier][i] {
			continue
		}
		if p.holds(int32(i), v) {
			cand = i
			break
		}
	}
	switch {
	case cur.Tier == NoTier:
		return cand
	case cand == NoTier, cand == cur.Tier:
		return cur.Tier
	}
	if cand < cur.Tier {
		return cand
	}
	t := &p.dim.Tiers[cur.Tier]
	if t.MinDwell > 0 && now-cur.Since < t.MinDwell {
		return cur.Tier
	}
	if t.Exit != nil && !p.holds(int32(len(p.dim.Tiers)+cur.Tier), v) {
		return cur.Tier
	}
	return cand
}

// rule returns rule r of the dimension: tier r's when, or for r ≥ the
// number of tiers n, tier r−n's exit (nil when it has none).
func (p *placer) rule(r int32) *Rule {
	if n := int32(len(p.dim.Tiers)); r >= n {
		return p.dim.Tiers[r-n].Exit
	}
	return p.dim.Tiers[r].When
}

// holds evaluates rule r on v, or reads its truth from v.rules.
func (p *placer) holds(r int32, v *ruleVals) bool {
	if v.rules != nil {
		return v.rules[r]
	}
	v.atoms = p.plan.ruleAtoms(r, len(p.dim.Tiers))
	return p.rule(r).holds(v, p.act)
}

// evalRule evaluates native rule r on v.truth (dimensionDue).
func (p *placer) evalRule(r int32, v *ruleVals) bool {
	v.atoms = p.plan.ruleAtoms(r, len(p.dim.Tiers))
	return p.rule(r).native.eval(v) == triTrue
}
