package scoring

// numVars is the number of variables a rule's atoms read: the scores, in
// scoreFields order, then tier.days (varTierDays).
const numVars = varTierDays + 1

// ruleVals is what a dimension's rules read about one user at one instant:
// the scores, each computed on its first read (scoreAt, exactly what
// placement reads: TestScoreAtMatchesRuleInput) unless they were given
// (setInput), the user's tier, attributes and tags. Placing a user thus
// costs only the scores its rules reach.
type ruleVals struct {
	m    *Model // with s and t: where missing scores come from
	s    *State
	t    int64
	vals [numVars]float64
	have uint16 // bit i: vals[i] is set

	name, previous string // tier.name, tier.previous
	attrs          map[string]string
	tags           []string
	rfm            RFM
	counters       map[string]float64

	// When truth is set (by dimensionDue), native rules do not evaluate
	// their comparisons: the truth of a rule's atom k is truth[atoms[k]],
	// atoms mapping the rule's atoms to the dimension's (set by the placer
	// before each rule).
	truth []bool
	atoms []int32
	// When rules is set too, placement reads the rules' truths from it
	// (numbered as placer.ruleTruths) instead of evaluating them.
	rules []bool
}

const allScores = 1<<numVars - 1 - 1<<varTierDays

// reset makes v read the scores of s under m at t (t ≥ the state's
// evaluation time), none computed yet, with the given attributes and tags.
func (v *ruleVals) reset(m *Model, s *State, t int64, in *RuleInput) {
	v.m, v.s, v.t, v.have = m, s, t, 0
	v.attrs, v.tags, v.rfm, v.counters = in.Attrs, in.Tags, in.RFM, in.Counters
	v.truth, v.rules = nil, nil
}

// setInput makes v read in, every score given.
func (v *ruleVals) setInput(in *RuleInput) {
	sc := &in.Scores
	v.vals = [numVars]float64{sc.Activity, float64(sc.ActiveDays7), float64(sc.ActiveDays30), sc.Monetary365d,
		float64(sc.Purchases90d), sc.RecencyDays, sc.ChurnRisk, sc.FraudRisk, in.IdleDays, in.AgeDays}
	v.m, v.s, v.have = nil, nil, allScores
	v.attrs, v.tags, v.rfm, v.counters = in.Attrs, in.Tags, in.RFM, in.Counters
	v.truth, v.rules = nil, nil
}

// setTier loads the user's place in dimension d at t: cur's name, its
// previous tier's name and tier.days.
func (v *ruleVals) setTier(d *DimensionSpec, cur Placement, t int64) {
	v.name, v.previous = "", ""
	if cur.Tier != NoTier {
		v.name = d.Tiers[cur.Tier].Name
		if cur.Previous != NoTier {
			v.previous = d.Tiers[cur.Previous].Name
		}
	}
	v.vals[varTierDays] = cur.tierDays(t)
	v.have |= 1 << varTierDays
}

// get returns variable i (a score index or varTierDays).
func (v *ruleVals) get(i int) float64 {
	if v.have&(1<<i) == 0 {
		v.vals[i] = v.m.scoreAt(v.s, i, v.t)
		v.have |= 1 << i
	}
	return v.vals[i]
}
