package scoring

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Rule is one compiled tier rule: a CEL expression of type bool over the
// user's scores, attributes and tags. A Rule is immutable and safe for
// concurrent use.
type Rule struct {
	Name   string // dimension.tier.when or .exit
	Source string // the CEL text
	prg    cel.Program
	ast    *cel.Ast
	timing ruleTiming
	native *nativeNode // nil: evaluated by prg (see native.go)
	reads  uint16      // with prg: bit v set when the rule may read variable v (a score or varTierDays)
}

// scoreFields are the fields of the scores object rules read, by their
// external (JSON) names, in slot order.
var scoreFields = []string{
	"activity", "active_days_7", "active_days_30", "monetary_365d",
	"purchases_90d", "recency_days", "churn_risk", "fraud_risk",
	"idle_days", "age_days",
}

// scoresType is the CEL object type of the scores variable.
var scoresType = types.NewObjectType("strata.Scores")

// rfmType is the CEL object type of the rfm variable: the user's RFM
// quintile scores (rfm.go), 1–5 each, 0 for a user who never purchased, and
// score = 100·recency + 10·frequency + monetary (555 for the best).
var rfmType = types.NewObjectType("strata.RFM")

// rfmFields are the fields of the rfm variable, in slot order.
var rfmFields = []string{"recency", "frequency", "monetary", "score"}

// tierType is the CEL object type of the tier variable: the user's place in
// the dimension whose rule is evaluated.
var tierType = types.NewObjectType("strata.Tier")

// tierFields are the fields of the tier variable, in slot order: the tier
// the user is in ("" when not placed yet), the days since it entered it (0
// then) and the tier it was in before ("" when none).
var tierFields = []string{"name", "days", "previous"}

// objectValues are the fields of one object variable as CEL values, in slot
// order.
type objectValues struct{ vals []ref.Val }

// objectType is one object variable's type for the CEL checker.
type objectType struct {
	fields map[string]*types.FieldType
	names  []string
}

func newObjectType(names []string, typeOf func(string) *types.Type) objectType {
	o := objectType{fields: map[string]*types.FieldType{}, names: names}
	for i, name := range names {
		o.fields[name] = &types.FieldType{
			Type:    typeOf(name),
			IsSet:   func(any) bool { return true },
			GetFrom: func(v any) (any, error) { return v.(*objectValues).vals[i], nil },
		}
	}
	return o
}

// objectsProvider declares the scores and tier object types to the CEL
// checker, so a rule naming an unknown field is rejected when the model
// loads, and reads fields from pre-boxed values without reflection.
type objectsProvider struct {
	*types.Registry
	objects map[string]objectType
}

func newObjectsProvider() (*objectsProvider, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	double := func(string) *types.Type { return types.DoubleType }
	return &objectsProvider{Registry: reg, objects: map[string]objectType{
		scoresType.TypeName(): newObjectType(scoreFields, double),
		rfmType.TypeName():    newObjectType(rfmFields, func(string) *types.Type { return types.IntType }),
		tierType.TypeName(): newObjectType(tierFields, func(f string) *types.Type {
			if f == "days" {
				return types.DoubleType
			}
			return types.StringType
		}),
	}}, nil
}

func (p *objectsProvider) FindStructType(name string) (*types.Type, bool) {
	if _, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.Registry.FindStructType(name)
}

func (p *objectsProvider) FindStructFieldNames(name string) ([]string, bool) {
	if o, ok := p.objects[name]; ok {
		return append([]string(nil), o.names...), true
	}
	return p.Registry.FindStructFieldNames(name)
}

func (p *objectsProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if o, ok := p.objects[name]; ok {
		f, ok := o.fields[field]
		return f, ok
	}
	return p.Registry.FindStructFieldType(name, field)
}

// ruleEnv is the CEL environment every rule of a model compiles in.
type ruleEnv struct{ env *cel.Env }

func newRuleEnv() (*ruleEnv, error) {
	p, err := newObjectsProvider()
	if err != nil {
		return nil, err
	}
	env, err := cel.NewEnv(
		cel.CustomTypeProvider(p),
		cel.Variable("scores", scoresType),
		cel.Variable("tier", tierType),
		cel.Variable("rfm", rfmType),
		cel.Variable("counters", cel.MapType(cel.StringType, cel.DoubleType)),
		cel.Variable("attrs", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("tags", cel.ListType(cel.StringType)),
		cel.CrossTypeNumericComparisons(true),
	)
	if err != nil {
		return nil, fmt.Errorf("scoring: rule environment: %w", err)
	}
	return &ruleEnv{env: env}, nil
}

// rule compiles the rule in attribute a. Problems are recorded with their
// position in the file; the result is nil then.
func (c *modelChecker) rule(a *hcl.Attribute, name string) *Rule {
	text, offs, ok := c.ruleText(a)
	if !ok {
		return nil
	}
	if strings.TrimSpace(text) == "" {
		c.fail(a.Expr.Range(), "empty rule")
		return nil
	}
	source := common.NewTextSource(text)
	ast, iss := c.env.env.CompileSource(source)
	if iss.Err() != nil {
		for _, e := range iss.Errors() {
			c.fail(c.ruleRange(source, offs, e.Location), e.Message)
		}
		return nil
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		loc := ast.NativeRep().SourceInfo().GetStartLocation(ast.NativeRep().Expr().ID())
		c.fail(c.ruleRange(source, offs, loc), fmt.Sprintf("a rule must be a bool, this one is %s", ast.OutputType()))
		return nil
	}
	folded, timing, ok := c.timing(ast, offs, text)
	if !ok {
		return nil
	}
	prg, err := c.env.env.Program(folded)
	if err != nil {
		c.fail(a.Expr.Range(), err.Error())
		return nil
	}
	native, ok := compileNative(folded.NativeRep().Expr())
	if !ok || !native.bindAtoms(timing.atoms) {
		native = nil
	}
	return &Rule{Name: name, Source: text, prg: prg, ast: folded, timing: timing, native: native,
		reads: variablesRead(folded)}
}

// ruleText returns the text of a rule attribute, which must be a string
// without interpolation, and the file byte offset of each of its runes
// (plus one past the end), so that a CEL position maps back into the file.
func (c *modelChecker) ruleText(a *hcl.Attribute) (string, []int, bool) {
	t, ok := a.Expr.(*hclsyntax.TemplateExpr)
	if !ok || len(t.Parts) != 1 {
		c.fail(a.Expr.Range(), "a rule is a string of CEL, without ${…} interpolation (write $${ for a literal ${)")
		return "", nil, false
	}
	lit, ok := t.Parts[0].(*hclsyntax.LiteralValueExpr)
	if !ok || !lit.Val.IsKnown() || lit.Val.IsNull() || lit.Val.Type() != cty.String {
		c.fail(a.Expr.Range(), "a rule is a string of CEL")
		return "", nil, false
	}
	text := lit.Val.AsString()
	base := lit.SrcRange.Start.Byte
	raw := c.src[base:lit.SrcRange.End.Byte]
	var offs []int
	if c.src[a.Expr.Range().Start.Byte] == '"' { // quoted: one file position per rune, escapes undone
		for i := 0; i < len(raw); {
			n := 1
			switch {
			case raw[i] == '\\' && i+1 < len(raw) && raw[i+1] == 'u':
				n = 6
			case raw[i] == '\\' && i+1 < len(raw) && raw[i+1] == 'U':
				n = 10
			case raw[i] == '\\':
				n = 2
			case bytes.HasPrefix(raw[i:], []byte("$${")), bytes.HasPrefix(raw[i:], []byte("%%{")):
				i++ // "$${" is "${": the rune maps to the second '$'
			default:
				_, n = utf8.DecodeRune(raw[i:])
			}
			offs = append(offs, base+i)
			i += n
		}
	} else { // heredoc: line by line, past the indent <<- strips
		pos := 0
		for _, line := range strings.SplitAfter(text, "\n") {
			if line == "" {
				continue
			}
			end := bytes.IndexByte(raw[pos:], '\n') + 1
			if end == 0 {
				end = len(raw) - pos
			}
			rawLine := string(raw[pos : pos+end])
			skip := utf8.RuneCountInString(rawLine) - utf8.RuneCountInString(line)
			k := 0
			for j := range rawLine {
				if k >= skip {
					offs = append(offs, base+pos+j)
				}
				k++
			}
			pos += end
		}
	}
	offs = append(offs, base+len(raw))
	return text, offs, true
}

// ruleRangeText is ruleRange for a rule's text.
func (c *modelChecker) ruleRangeText(text string, offs []int, loc common.Location) hcl.Range {
	return c.ruleRange(common.NewTextSource(text), offs, loc)
}

// ruleRange maps a CEL location to a one-character range in the file.
func (c *modelChecker) ruleRange(source common.Source, offs []int, loc common.Location) hcl.Range {
	ro, _ := source.LocationOffset(loc)
	off := offs[max(0, min(int(ro), len(offs)-1))]
	line := 1 + bytes.Count(c.src[:off], []byte("\n"))
	col := 1 + utf8.RuneCount(c.src[bytes.LastIndexByte(c.src[:off], '\n')+1:off])
	start := hcl.Pos{Line: line, Column: col, Byte: off}
	return hcl.Range{Filename: c.file, Start: start, End: hcl.Pos{Line: line, Column: col + 1, Byte: off + 1}}
}

// RuleInput is what rules read about one user at one instant.
type RuleInput struct {
	Scores Scores
	// IdleDays and AgeDays are the days (fractional) since the user's last
	// and first activity event; −1 for a user without one (as recency_days). Rules read them as
	// scores.idle_days and scores.age_days.
	IdleDays, AgeDays float64
	Attrs             map[string]string  // nil: none
	Tags              []string           // nil: none
	RFM               RFM                // the user's RFM scores (rfm.go)
	Counters          map[string]float64 // the model's counters (counters.go); nil: none
}

// ruleActivation resolves the variables of a rule from a RuleInput,
// boxing each score once per Set, not once per rule.
type ruleActivation struct {
	scores   objectValues
	tier     objectValues
	rfm      objectValues
	rfmOf    RFM // the scores boxed in rfm
	counters any
	attrs    any
	tags     any
	// name and previous are the strings boxed in tier (setVals boxes a
	// name again only when it changes).
	name, previous string
}

func newRuleActivation() *ruleActivation {
	zeros := make([]ref.Val, len(scoreFields))
	for i := range zeros {
		zeros[i] = types.Double(0)
	}
	return &ruleActivation{
		scores: objectValues{vals: zeros},
		tier:   objectValues{vals: []ref.Val{types.String(""), types.Double(0), types.String("")}},
		rfm:    objectValues{vals: []ref.Val{types.Int(0), types.Int(0), types.Int(0), types.Int(0)}},
	}
}

// setRFM boxes the user's RFM scores (again only when they changed).
func (a *ruleActivation) setRFM(r RFM) {
	if r == a.rfmOf {
		return
	}
	a.rfmOf = r
	a.rfm.vals[0], a.rfm.vals[1], a.rfm.vals[2] = types.Int(r.Recency), types.Int(r.Frequency), types.Int(r.Monetary)
	a.rfm.vals[3] = types.Int(r.Score())
}

// setTier loads the user's place in the dimension being evaluated: its
// tier's name, the days since it entered it, the previous tier's name.
func (a *ruleActivation) setTier(name string, days float64, previous string) {
	a.tier.vals[0], a.tier.vals[1], a.tier.vals[2] = types.String(name), types.Double(days), types.String(previous)
	a.name, a.previous = name, previous
}

// set loads in; the values stay valid until the next set.
func (a *ruleActivation) set(in *RuleInput) {
	sc := &in.Scores
	v := a.scores.vals
	v[0] = types.Double(sc.Activity)
	v[1] = types.Double(sc.ActiveDays7)
	v[2] = types.Double(sc.ActiveDays30)
	v[3] = types.Double(sc.Monetary365d)
	v[4] = types.Double(sc.Purchases90d)
	v[5] = types.Double(sc.RecencyDays)
	v[6] = types.Double(sc.ChurnRisk)
	v[7] = types.Double(sc.FraudRisk)
	v[8] = types.Double(in.IdleDays)
	v[9] = types.Double(in.AgeDays)
	a.attrs, a.tags = noAttrs, noTags
	if in.Attrs != nil {
		a.attrs = in.Attrs
	}
	if in.Tags != nil {
		a.tags = in.Tags
	}
	a.setRFM(in.RFM)
	a.counters = noCounters
	if in.Counters != nil {
		a.counters = in.Counters
	}
}

// setVals loads v, computing every score it does not hold yet.
// Only the variables in reads are loaded (and computed): a rule reads no
// other (variablesRead).
func (a *ruleActivation) setVals(v *ruleVals, reads uint16) {
	for i := range a.scores.vals {
		if reads&(1<<i) != 0 {
			a.scores.vals[i] = types.Double(v.get(i))
		}
	}
	if a.name != v.name || a.tier.vals[0] == nil {
		a.name, a.tier.vals[0] = v.name, types.String(v.name)
	}
	if a.previous != v.previous || a.tier.vals[2] == nil {
		a.previous, a.tier.vals[2] = v.previous, types.String(v.previous)
	}
	if reads&(1<<varTierDays) != 0 {
		a.tier.vals[1] = types.Double(v.get(varTierDays))
	}
	a.attrs, a.tags = noAttrs, noTags
	if v.attrs != nil {
		a.attrs = v.attrs
	}
	if v.tags != nil {
		a.tags = v.tags
	}
	a.setRFM(v.rfm)
	a.counters = noCounters
	if v.counters != nil {
		a.counters = v.counters
	}
}

var (
	noAttrs    any = map[string]string{}
	noTags     any = []string{}
	noCounters any = map[string]float64{}
)

func (a *ruleActivation) ResolveName(name string) (any, bool) {
	switch name {
	case "scores":
		return &a.scores, true
	case "tier":
		return &a.tier, true
	case "attrs":
		return a.attrs, true
	case "tags":
		return a.tags, true
	case "rfm":
		return &a.rfm, true
	case "counters":
		return a.counters, true
	}
	return nil, false
}

func (a *ruleActivation) Parent() interpreter.Activation { return nil }

// eval evaluates the rule. A rule whose evaluation fails (an attribute the
// user does not have, say) is false: the failure is the same on every
// replica, so the result is deterministic; err says why, for explain.
func (r *Rule) eval(a *ruleActivation) (bool, error) {
	out, _, err := r.prg.Eval(a)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	return bool(b) && ok, nil
}

// holds evaluates the rule on v: natively when it compiled to a native
// tree, else with CEL through a (the scratch activation of the caller). A
// failing rule is false, as in eval.
func (r *Rule) holds(v *ruleVals, a *ruleActivation) bool {
	if r.native != nil {
		return r.native.eval(v) == triTrue
	}
	a.setVals(v, r.reads)
	ok, _ := r.eval(a)
	return ok
}

// variablesRead returns the variables (scores, tier.days) a rule may read:
// every one it selects (scores.x, tier.days), or all of them when it uses
// scores or tier other than by selecting a field.
func variablesRead(checked *cel.Ast) uint16 {
	a := checked.NativeRep()
	var reads uint16
	selects := 0 // of a field of scores or tier
	for _, n := range ast.MatchDescendants(ast.NavigateAST(a), func(n ast.NavigableExpr) bool {
		return n.Kind() == ast.SelectKind
	}) {
		sel := n.AsSelect()
		if op := sel.Operand(); op.Kind() == ast.IdentKind && (op.AsIdent() == "scores" || op.AsIdent() == "tier") {
			selects++
			if v, ok := scoreOf(n); ok {
				reads |= 1 << v
			}
		}
	}
	idents := ast.MatchDescendants(ast.NavigateAST(a), func(n ast.NavigableExpr) bool {
		return n.Kind() == ast.IdentKind && (n.AsIdent() == "scores" || n.AsIdent() == "tier")
	})
	if len(idents) != selects { // scores or tier as a whole, or a comprehension variable of that name
		return 1<<numVars - 1
	}
	return reads
}
