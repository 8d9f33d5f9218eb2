package scoring

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/common/operators"
)

// oneRule parses a model whose only tier has the given when rule.
func oneRule(when string) (*Rule, string, error) {
	src := fmt.Sprintf("model \"m\" {\n  version = 1\n  dimension \"d\" {\n    tier \"t\" { when = %q }\n  }\n}\n", when)
	spec, err := ParseModelFile("m.hcl", []byte(src))
	if err != nil {
		return nil, src, err
	}
	return spec.Dimensions[0].Tiers[0].When, src, nil
}

func score(name string) int { return slices.Index(scoreFields, name) }

// Rules are analysed at load into the comparisons of scores with constants
// (after constant folding, either operand order) and the step scores read in
// other ways: what can change a rule with time alone.
func TestRuleTiming(t *testing.T) {
	for _, tc := range []struct {
		rule  string
		atoms []atom
		steps []int
	}{
		{"scores.monetary_365d >= 50000 && scores.purchases_90d >= 2", []atom{
			{score("monetary_365d"), operators.GreaterEquals, 50000}, {score("purchases_90d"), operators.GreaterEquals, 2}}, nil},
		{"50.0 * 1000.0 > scores.monetary_365d", []atom{{score("monetary_365d"), operators.Less, 50000}}, nil},
		{"!(scores.activity < 2.5) || 'vip' in tags", []atom{{score("activity"), operators.Less, 2.5}}, nil},
		{"scores.recency_days <= 30 ? attrs.plan == 'gold' : scores.churn_risk > 80",
			[]atom{{score("recency_days"), operators.LessEquals, 30}, {score("churn_risk"), operators.Greater, 80}}, nil},
		{"scores.monetary_365d / scores.purchases_90d > 100.0 && scores.fraud_risk == 0.0", []atom{
			{score("fraud_risk"), operators.Equals, 0}}, []int{score("monetary_365d"), score("purchases_90d")}},
		{"attrs.region == 'eu'", nil, nil},
		{"tier.name == 'whale' && tier.days >= 7 || tier.previous != ''", []atom{{varTierDays, operators.GreaterEquals, 7}}, nil},
	} {
		r, _, err := oneRule(tc.rule)
		if err != nil {
			t.Errorf("%s: %v", tc.rule, err)
			continue
		}
		if !slices.Equal(r.timing.atoms, tc.atoms) || !slices.Equal(r.timing.steps, tc.steps) {
			t.Errorf("%s: atoms %v steps %v, want %v %v", tc.rule, r.timing.atoms, r.timing.steps, tc.atoms, tc.steps)
		}
	}
}

// A continuous score used where the instant a rule changes cannot be
// solved is rejected at its position.
func TestRuleTimingRejects(t *testing.T) {
	for _, tc := range []struct{ rule, marker, want string }{
		{"scores.monetary_365d > 0.0 && scores.activity * 2.0 > 5.0", ".activity", "compare it directly with a constant"},
		{"scores.churn_risk == 50.0", "==", "not =="},
		{"scores.activity > scores.churn_risk", ".activity", "scores.activity changes continuously"},
		{"tier.days == 3.0", "==", "tier.days changes continuously"},
		{"tier.level == 'x'", ".level", "undefined field 'level'"},
	} {
		_, src, err := oneRule(tc.rule)
		pos := at(t, "m.hcl", src, tc.marker, 0, 0)
		if err == nil || !strings.Contains(err.Error(), pos+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q at %s", tc.rule, err, tc.want, pos)
		}
	}
}

// Every score rules can read has a motion.
func TestScoreMotions(t *testing.T) {
	if len(scoreMotions) != len(scoreFields) || len(newRuleActivation().scores.vals) != len(scoreFields) {
		t.Fatalf("%d fields, %d motions", len(scoreFields), len(scoreMotions))
	}
	// tier.days comes right after the scores, and a uint16 holds a bit per
	// variable (ruleVals.have, Rule.reads).
	if varTierDays != len(scoreFields) || numVars != len(scoreFields)+1 || numVars > 16 {
		t.Fatalf("varTierDays %d, numVars %d for %d scores", varTierDays, numVars, len(scoreFields))
	}
	r, _, err := oneRule("scores.idle_days >= 7 && scores.age_days < 30")
	if err != nil {
		t.Fatal(err)
	}
	a := newRuleActivation()
	a.set(&RuleInput{IdleDays: 8, AgeDays: 10})
	if ok, err := r.eval(a); !ok || err != nil {
		t.Errorf("idle 8, age 10: %v %v", ok, err)
	}
	a.set(&RuleInput{IdleDays: 8, AgeDays: 31})
	if ok, _ := r.eval(a); ok {
		t.Error("age 31 passes age_days < 30")
	}
}
