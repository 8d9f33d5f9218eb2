package scoring

import (
	"slices"
	"time"

	"github.com/google/cel-go/common/ast"
)

// Explanations: why a user is in its tier of every dimension, and what the
// rules read. They are for people (GET /v1/users/{user}/explain), not the
// hot path: rules are evaluated through CEL, and nothing is cached.

// DimensionExplain says where a user stands in one dimension and why.
type DimensionExplain struct {
	Dimension string     `json:"dimension"`
	Tier      string     `json:"tier"`               // "" while not placed
	Since     *time.Time `json:"since,omitempty"`    // when it entered Tier (rule models)
	Previous  string     `json:"previous,omitempty"` // the tier before (rule models)
	Reason    string     `json:"reason,omitempty"`   // Tier's reason code
	// Rule is the condition that places a user in Tier: its when rule (a
	// model file) or the documented condition (the built-in model); Exit
	// its exit rule, if any.
	Rule string `json:"rule,omitempty"`
	Exit string `json:"exit,omitempty"`
	// Holds says whether Rule holds at the explanation's instant; Held,
	// when it does not, why the user stays (exit rule, dwell, moves).
	Holds bool   `json:"holds"`
	Held  string `json:"held,omitempty"`
	// Reads are the values Rule and Exit read, by their names in rules
	// (scores.monetary_365d, tier.days, attrs.region, rfm.recency, …).
	Reads map[string]any `json:"reads"`
	// Tiers checks every tier's rule in order: the first that holds (and
	// that moves allows) is where the user would go.
	Tiers []TierCheck `json:"tiers"`
}

// TierCheck is one tier's rule at the explanation's instant.
type TierCheck struct {
	Tier  string `json:"tier"`
	Holds bool   `json:"holds"`
	Error string `json:"error,omitempty"` // why evaluating it failed (a missing attribute): false then
}

// Explain explains s under the built-in model at now (an earlier now is the
// state's evaluation time).
func (m *Model) Explain(s *State, now int64) []DimensionExplain {
	t := max(now, s.evalAt)
	sc := m.scoresAt(s, t)
	var in RuleInput
	m.ruleInputAt(s, t, &in)
	target := m.evaluate(s, t)
	conds := m.conditions()
	out := make([]DimensionExplain, numDims)
	for d := range numDims {
		e := DimensionExplain{Dimension: dimNames[d], Tier: tierNames[d][s.tier[d]], Reads: map[string]any{}}
		if s.tier[d] != tierNone {
			e.Reason, e.Rule = m.reasons[d][s.tier[d]], conds[d][s.tier[d]]
		}
		e.Holds = s.tier[d] == target[d]
		for i := 1; i < len(tierNames[d]); i++ {
			e.Tiers = append(e.Tiers, TierCheck{Tier: tierNames[d][i], Holds: target[d] == uint8(i)})
		}
		switch d {
		case dimLifecycle:
			e.Reads["scores.idle_days"], e.Reads["scores.age_days"] = in.IdleDays, in.AgeDays
			if s.reactivatedUntil > t {
				e.Reads["reactivated_until_ms"] = s.reactivatedUntil
			}
		case dimValue:
			e.Reads["scores.monetary_365d"] = sc.Monetary365d
		case dimRisk:
			e.Reads["scores.fraud_risk"] = sc.FraudRisk
		}
		out[d] = e
	}
	return out
}

// conditions renders the built-in model's tier conditions (docs/model.md)
// with its parameters, by dimension and tier number.
func (m *Model) conditions() [numDims][]string {
	return [numDims][]string{
		{"", "scores.age_days < " + durDays(m.newFor), "scores.idle_days < " + durDays(m.silentAfter),
			"scores.idle_days >= " + durDays(m.silentAfter), "scores.idle_days >= " + durDays(m.churnedAfter),
			"returned after churned, for " + durDays(m.reactivatedFor)},
		{"", "scores.monetary_365d <= 0", "scores.monetary_365d < " + num(float64(m.longTailMilli)/1000),
			"scores.monetary_365d < " + num(float64(m.highPotentialMilli)/1000), "scores.monetary_365d >= " + num(float64(m.highPotentialMilli)/1000)},
		{"", "scores.fraud_risk < " + m.reasons[dimRisk][riskWatch][len("fraud_risk_ge_"):],
			"scores.fraud_risk >= " + m.reasons[dimRisk][riskWatch][len("fraud_risk_ge_"):],
			"scores.fraud_risk >= " + m.reasons[dimRisk][riskHigh][len("fraud_risk_ge_"):]},
	}
}

// durDays renders a duration in days for a condition: "7" for 7 days.
func durDays(ms int64) string { return num(float64(ms) / float64(Day)) }

// Explain explains s under the rule model at now.
func (m *RuleModel) Explain(s *State, now int64) []DimensionExplain {
	t := max(now, s.evalAt)
	in := m.userInput(s)
	m.base.ruleInputAt(s, t, &in)
	act := newRuleActivation()
	act.set(&in)
	var out []DimensionExplain
	places := m.places(s)
	for d := range places {
		pl := places[d].placement()
		dim := &m.spec.Dimensions[d]
		e := DimensionExplain{Dimension: dim.Name, Reads: map[string]any{}}
		name, previous := "", ""
		if pl.Tier != NoTier {
			name = dim.Tiers[pl.Tier].Name
			since := time.UnixMilli(pl.Since).UTC()
			e.Since = &since
			if pl.Previous != NoTier {
				previous = dim.Tiers[pl.Previous].Name
			}
		}
		e.Tier, e.Previous = name, previous
		act.setTier(name, pl.tierDays(t), previous)
		cand := NoTier
		for i := range dim.Tiers {
			ok, err := dim.Tiers[i].When.eval(act)
			c := TierCheck{Tier: dim.Tiers[i].Name, Holds: ok}
			if err != nil {
				c.Error = err.Error()
			}
			e.Tiers = append(e.Tiers, c)
			if ok && cand == NoTier && (pl.Tier == NoTier || m.allowed(d, pl.Tier, i)) {
				cand = i
			}
		}
		if pl.Tier != NoTier {
			tier := &dim.Tiers[pl.Tier]
			e.Reason, e.Rule, e.Holds = tier.Reason, tier.When.Source, e.Tiers[pl.Tier].Holds
			readVars(tier.When, &in, act, e.Reads)
			if tier.Exit != nil {
				e.Exit = tier.Exit.Source
				readVars(tier.Exit, &in, act, e.Reads)
			}
			if !e.Holds {
				e.Held = m.held(d, pl, cand, t, act)
			}
		}
		out = append(out, e)
	}
	return out
}

// allowed reports whether dimension d's moves allow from → to.
func (m *RuleModel) allowed(d, from, to int) bool {
	moves := m.spec.Dimensions[d].Moves
	if moves == nil || from == to {
		return true
	}
	tos, listed := moves[m.spec.Dimensions[d].Tiers[from].Name]
	return !listed || slices.Contains(tos, m.spec.Dimensions[d].Tiers[to].Name)
}

// held says why a user whose tier's rule no longer holds stays in it.
func (m *RuleModel) held(d int, pl Placement, cand int, t int64, act *ruleActivation) string {
	tier := &m.spec.Dimensions[d].Tiers[pl.Tier]
	switch {
	case cand == NoTier:
		return "no tier's rule allows a move from here"
	case cand < pl.Tier:
		return "" // it moves up at the next evaluation
	case tier.MinDwell > 0 && t-pl.Since < tier.MinDwell:
		return "min_dwell: stays until " + formatMs(pl.Since+tier.MinDwell)
	case tier.Exit != nil:
		if ok, _ := tier.Exit.eval(act); !ok {
			return "its exit rule does not hold (hysteresis)"
		}
	}
	return ""
}

// readVars adds the values rule r reads to reads.
func readVars(r *Rule, in *RuleInput, act *ruleActivation, reads map[string]any) {
	if r == nil || r.ast == nil {
		return
	}
	a := r.ast.NativeRep()
	for _, n := range ast.MatchDescendants(ast.NavigateAST(a), func(n ast.NavigableExpr) bool {
		return n.Kind() == ast.SelectKind || n.Kind() == ast.IdentKind && n.AsIdent() == "tags"
	}) {
		if n.Kind() == ast.IdentKind {
			reads["tags"] = in.Tags
			continue
		}
		sel := n.AsSelect()
		if sel.Operand().Kind() != ast.IdentKind {
			continue
		}
		name, field := sel.Operand().AsIdent(), sel.FieldName()
		key := name + "." + field
		switch name {
		case "scores":
			if i := slices.Index(scoreFields, field); i >= 0 {
				reads[key] = scoreInput(in, i)
			}
		case "tier":
			if i := slices.Index(tierFields, field); i >= 0 {
				reads[key] = act.tier.vals[i].Value()
			}
		case "attrs":
			if v, ok := in.Attrs[field]; ok {
				reads[key] = v
			} else {
				reads[key] = nil
			}
		case "counters":
			if v, ok := in.Counters[field]; ok {
				reads[key] = v
			} else {
				reads[key] = nil
			}
		case "rfm":
			if i := slices.Index(rfmFields, field); i >= 0 {
				reads[key] = [...]int{in.RFM.Recency, in.RFM.Frequency, in.RFM.Monetary, in.RFM.Score()}[i]
			}
		}
	}
}

// scoreInput returns score i (scoreFields order) of in.
func scoreInput(in *RuleInput, i int) float64 {
	sc := &in.Scores
	return [...]float64{sc.Activity, float64(sc.ActiveDays7), float64(sc.ActiveDays30), sc.Monetary365d,
		float64(sc.Purchases90d), sc.RecencyDays, sc.ChurnRisk, sc.FraudRisk, in.IdleDays, in.AgeDays}[i]
}

// UsesScores returns, per dimension, the scores its rules read (scoreFields
// names, in that order): what a report of the model measures.
func (m *RuleModel) UsesScores() map[string][]string {
	out := map[string][]string{}
	for _, d := range m.spec.Dimensions {
		var reads uint16
		for _, t := range d.Tiers {
			for _, r := range []*Rule{t.When, t.Exit} {
				if r != nil && r.ast != nil {
					reads |= variablesRead(r.ast)
				}
			}
		}
		var names []string
		for i, f := range scoreFields {
			if reads&(1<<i) != 0 {
				names = append(names, f)
			}
		}
		out[d.Name] = names
	}
	return out
}

// UsesScores is RuleModel.UsesScores for the built-in model.
func (m *Model) UsesScores() map[string][]string {
	return map[string][]string{
		dimNames[dimLifecycle]: {"idle_days", "age_days"},
		dimNames[dimValue]:     {"monetary_365d"},
		dimNames[dimRisk]:      {"fraud_risk"},
	}
}

// ScoreByName returns score name (a scoreFields name) of s at now, given
// sc, its Scores at now (computed once by the caller); false if name is none.
func ScoreByName(sc Scores, s *State, now int64, name string) (float64, bool) {
	i := slices.Index(scoreFields, name)
	if i < 0 {
		return 0, false
	}
	in := RuleInput{Scores: sc, IdleDays: -1, AgeDays: -1}
	if t := max(now, s.evalAt); s.flags&flagSeen != 0 {
		in.IdleDays = float64(max(t-s.lastSeen, 0)) / float64(Day)
		in.AgeDays = float64(max(t-s.firstSeen, 0)) / float64(Day)
	}
	return scoreInput(&in, i), true
}

func formatMs(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}
