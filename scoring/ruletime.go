package scoring

import (
	"fmt"
	"slices"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/hashicorp/hcl/v2"
)

// How a score moves with time alone, between a user's events.
type scoreMotion uint8

const (
	// motionStep scores change only at instants the state knows: a day
	// bucket, a coupon or a minute leaving its window.
	motionStep scoreMotion = iota
	// motionContinuous scores change at every instant: a decayed sum, an
	// idle time, or a function of one.
	motionContinuous
)

// scoreMotions is the motion of each score, in scoreFields order.
var scoreMotions = []scoreMotion{
	motionContinuous, // activity: decays
	motionStep,       // active_days_7
	motionStep,       // active_days_30
	motionStep,       // monetary_365d
	motionStep,       // purchases_90d
	motionContinuous, // recency_days: grows
	motionContinuous, // churn_risk: grows with idle time
	motionStep,       // fraud_risk
	motionContinuous, // idle_days: grows
	motionContinuous, // age_days: grows
}

// varTierDays is the variable index of tier.days in atoms, after the scores
// (len(scoreFields)): the days since the user entered its tier, which grows
// with time.
const varTierDays = 10

// varName names variable v (a score index or varTierDays) as rules write it.
func varName(v int) string {
	if v == varTierDays {
		return "tier.days"
	}
	return "scores." + scoreFields[v]
}

// motion returns how variable v moves with time alone.
func motion(v int) scoreMotion {
	if v == varTierDays {
		return motionContinuous
	}
	return scoreMotions[v]
}

// atom is one comparison of a score with a constant in a rule: the places
// where a rule's truth can change with time alone.
type atom struct {
	score int    // index into scoreFields, or varTierDays
	op    string // operators.Less, LessEquals, Greater, GreaterEquals, Equals, NotEquals, score on the left
	c     float64
}

// ruleTiming is what of a rule can change with time alone. A rule made of
// &&, ||, !, ?: over atoms and over attrs and tags (which only events
// change) can change only when one of its atoms flips; a step score read in
// any other way (inside arithmetic, say) can change it at each change of
// that score.
type ruleTiming struct {
	atoms []atom
	steps []int // step scores read outside an atom, sorted, once each
}

// flipped gives the operator with its operands swapped.
var flipped = map[string]string{
	operators.Less: operators.Greater, operators.LessEquals: operators.GreaterEquals,
	operators.Greater: operators.Less, operators.GreaterEquals: operators.LessEquals,
	operators.Equals: operators.Equals, operators.NotEquals: operators.NotEquals,
}

// timing folds the rule's constants and analyses it. A continuous score read
// outside a comparison with a constant, or compared with == or !=, is an
// error at its position: the time the rule changes could not be computed.
func (c *modelChecker) timing(checked *cel.Ast, offs []int, text string) (*cel.Ast, ruleTiming, bool) {
	var t ruleTiming
	folder, err := cel.NewConstantFoldingOptimizer()
	var opt *cel.StaticOptimizer
	if err == nil {
		opt, err = cel.NewStaticOptimizer(folder)
	}
	if err != nil { // fixed options: only a bug gets here
		c.fail(hcl.Range{Filename: c.file}, err.Error())
		return nil, t, false
	}
	folded, iss := opt.Optimize(c.env.env, checked)
	if iss.Err() != nil { // folding a constant failed (1/0): the rule would always fail
		for _, e := range iss.Errors() {
			c.fail(c.ruleRangeText(text, offs, e.Location), e.Message)
		}
		return nil, t, false
	}
	a := folded.NativeRep()
	ok := true
	var walk func(e ast.Expr)
	walk = func(e ast.Expr) {
		if e.Kind() == ast.CallKind {
			call := e.AsCall()
			args := call.Args()
			switch fn := call.FunctionName(); fn {
			case operators.LogicalAnd, operators.LogicalOr, operators.LogicalNot, operators.Conditional:
				for _, x := range args {
					walk(x)
				}
				return
			case operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals,
				operators.Equals, operators.NotEquals:
				for side := range 2 {
					score, isScore := scoreOf(args[side])
					k, isConst := constNumber(args[1-side])
					if !isScore || !isConst {
						continue
					}
					op := fn
					if side == 1 {
						op = flipped[fn]
					}
					if motion(score) == motionContinuous && (op == operators.Equals || op == operators.NotEquals) {
						c.fail(c.ruleRangeText(text, offs, a.SourceInfo().GetStartLocation(e.ID())),
							fmt.Sprintf("%s changes continuously with time: compare it with <, <=, > or >=, not %s",
								varName(score), operatorName(fn)))
						ok = false
						return
					}
					t.atoms = append(t.atoms, atom{score: score, op: op, c: k})
					return
				}
			}
		}
		reads := ast.MatchDescendants(ast.NavigateExpr(a, e), func(n ast.NavigableExpr) bool {
			_, isScore := scoreOf(n)
			return isScore
		})
		for _, n := range reads {
			score, _ := scoreOf(n)
			if motion(score) == motionContinuous {
				c.fail(c.ruleRangeText(text, offs, a.SourceInfo().GetStartLocation(n.ID())),
					fmt.Sprintf("%s changes continuously with time: compare it directly with a constant "+
						"(such as %s >= 2.5), so that the instant the rule changes can be computed", varName(score), varName(score)))
				ok = false
				continue
			}
			if !slices.Contains(t.steps, score) {
				t.steps = append(t.steps, score)
			}
		}
	}
	walk(a.Expr())
	slices.Sort(t.steps)
	return folded, t, ok
}

// scoreOf recognises scores.<field> and tier.days (not has(…)): the
// variables that move with time.
func scoreOf(e ast.Expr) (int, bool) {
	if e.Kind() != ast.SelectKind {
		return 0, false
	}
	sel := e.AsSelect()
	if sel.IsTestOnly() || sel.Operand().Kind() != ast.IdentKind {
		return 0, false
	}
	switch sel.Operand().AsIdent() {
	case "scores":
		i := slices.Index(scoreFields, sel.FieldName())
		return i, i >= 0
	case "tier":
		return varTierDays, sel.FieldName() == "days"
	}
	return 0, false
}

// constNumber recognises a numeric literal (after folding).
func constNumber(e ast.Expr) (float64, bool) {
	if e.Kind() != ast.LiteralKind {
		return 0, false
	}
	switch v := e.AsLiteral().Value().(type) {
	case float64:
		return v, true
	case int64:
		return float64(v), true
	case uint64:
		return float64(v), true
	}
	return 0, false
}

func operatorName(fn string) string {
	if op, ok := operators.FindReverse(fn); ok {
		return op
	}
	return fn
}
