package scoring

import (
	"math"
	"slices"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
)

// Native rule evaluation. Most tier rules are comparisons of scores with
// constants, of the tier's names with strings, tests of attributes and
// tags, combined by &&, ||, !, ?:. Such a rule is compiled at load into a
// small expression tree evaluated without CEL: no boxing of values, no
// allocation, and only the scores the evaluation reaches are computed. A
// rule with anything else (arithmetic, functions, comprehensions) keeps its
// CEL program. Both give the same result for every input — CEL's semantics
// are reproduced, errors included (TestNativeMatchesCEL):
//
//   - an ordering comparison with NaN is false, and so is == (!= is true);
//     comparing a double with an int or uint constant is comparing it with
//     the constant converted to double (exact for every double: see
//     compareDoubleInt in cel-go), so a comparison is cmpOp.holds;
//   - reading an attribute the user lacks is an error; && is false if
//     either side is false, else an error if either side is, else true
//     (|| alike with true); ! and ?: pass an error on; a rule whose result
//     is an error is false (Rule.eval).

// tri is a boolean rule value under CEL's semantics: false, true or an
// error.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triErr
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// cmpOp is a comparison operator, the variable on the left.
type cmpOp uint8

const (
	opLess cmpOp = iota
	opLessEquals
	opGreater
	opGreaterEquals
	opEquals
	opNotEquals
)

// cmpOps maps CEL's operator names to cmpOp.
var cmpOps = map[string]cmpOp{
	operators.Less: opLess, operators.LessEquals: opLessEquals,
	operators.Greater: opGreater, operators.GreaterEquals: opGreaterEquals,
	operators.Equals: opEquals, operators.NotEquals: opNotEquals,
}

// holds reports whether v op c (false for NaN, except !=).
func (o cmpOp) holds(v, c float64) bool {
	switch o {
	case opLess:
		return v < c
	case opLessEquals:
		return v <= c
	case opGreater:
		return v > c
	case opGreaterEquals:
		return v >= c
	case opEquals:
		return v == c
	}
	return v != c
}

// nativeKind is the kind of a node of a native rule.
type nativeKind uint8

const (
	nativeConst   nativeKind = iota // b
	nativeCmp                       // variable v op c (v: a score index or varTierDays): the rule's atom `atom`
	nativeTier                      // tier.name (v = 0) or tier.previous (v = 2) == s, or != when neg
	nativeHas                       // has(attrs.s)
	nativeAttrEq                    // attrs.key == s, or != when neg; an error without the attribute
	nativeInTags                    // s in tags
	nativeRFM                       // rfm field v (rfmFields order) op c
	nativeCounter                   // counters.key op c; an error without the counter
	nativeAnd                       // kids[0] && kids[1]
	nativeOr                        // kids[0] || kids[1]
	nativeNot                       // !kids[0]
	nativeCond                      // kids[0] ? kids[1] : kids[2]
)

// nativeNode is one node of a native rule.
type nativeNode struct {
	kind nativeKind
	op   cmpOp
	neg  bool
	b    tri
	v    int
	c    float64
	atom int // nativeCmp: index of the comparison in the rule's timing.atoms
	s    string
	key  string
	kids []*nativeNode
}

// compileNative returns the native form of a checked, folded rule, or
// false when it uses anything the native evaluator does not reproduce.
func compileNative(e ast.Expr) (*nativeNode, bool) {
	switch e.Kind() {
	case ast.LiteralKind:
		if b, ok := e.AsLiteral().Value().(bool); ok {
			return &nativeNode{kind: nativeConst, b: triOf(b)}, true
		}
		return nil, false
	case ast.SelectKind: // has(attrs.x)
		sel := e.AsSelect()
		if sel.IsTestOnly() && isIdent(sel.Operand(), "attrs") {
			return &nativeNode{kind: nativeHas, s: sel.FieldName()}, true
		}
		return nil, false
	case ast.CallKind:
	default:
		return nil, false
	}
	call := e.AsCall()
	if call.IsMemberFunction() {
		return nil, false
	}
	args := call.Args()
	switch fn := call.FunctionName(); fn {
	case operators.LogicalAnd, operators.LogicalOr, operators.LogicalNot, operators.Conditional:
		n := &nativeNode{kind: nativeAnd}
		arity := 2
		switch fn {
		case operators.LogicalOr:
			n.kind = nativeOr
		case operators.LogicalNot:
			n.kind, arity = nativeNot, 1
		case operators.Conditional:
			n.kind, arity = nativeCond, 3
		}
		if len(args) != arity {
			return nil, false
		}
		for _, a := range args {
			k, ok := compileNative(a)
			if !ok {
				return nil, false
			}
			n.kids = append(n.kids, k)
		}
		return n, true
	case operators.In: // 'lit' in tags
		if len(args) == 2 && isIdent(args[1], "tags") {
			if s, ok := constString(args[0]); ok {
				return &nativeNode{kind: nativeInTags, s: s}, true
			}
		}
		return nil, false
	case operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals,
		operators.Equals, operators.NotEquals:
		if len(args) != 2 {
			return nil, false
		}
		for side := range 2 {
			op := fn
			if side == 1 {
				op = flipped[fn]
			}
			if v, ok := scoreOf(args[side]); ok {
				if c, ok := constNumber(args[1-side]); ok {
					return &nativeNode{kind: nativeCmp, v: v, op: cmpOps[op], c: c}, true
				}
				return nil, false
			}
			if key, ok := counterRead(args[side]); ok {
				if c, ok := constNumber(args[1-side]); ok && op != operators.Equals && op != operators.NotEquals {
					return &nativeNode{kind: nativeCounter, key: key, op: cmpOps[op], c: c}, true
				}
				return nil, false
			}
			if f, ok := rfmRead(args[side]); ok {
				// An int field: ==/!= only with an int constant (CEL's
				// equality across int and double is not ours to redo).
				c, isNum := constNumber(args[1-side])
				isInt := false
				if isNum {
					_, isInt = args[1-side].AsLiteral().Value().(int64)
				}
				if isNum && (isInt || op != operators.Equals && op != operators.NotEquals) {
					return &nativeNode{kind: nativeRFM, v: f, op: cmpOps[op], c: c}, true
				}
				return nil, false
			}
			if op != operators.Equals && op != operators.NotEquals {
				continue
			}
			s, ok := constString(args[1-side])
			if !ok {
				continue
			}
			if f, ok := tierString(args[side]); ok {
				return &nativeNode{kind: nativeTier, v: f, s: s, neg: op == operators.NotEquals}, true
			}
			if key, ok := attrRead(args[side]); ok {
				return &nativeNode{kind: nativeAttrEq, key: key, s: s, neg: op == operators.NotEquals}, true
			}
		}
	}
	return nil, false
}

// bindAtoms points every comparison of the tree at its atom in atoms (the
// rule's timing.atoms), and reports whether each has one.
func (n *nativeNode) bindAtoms(atoms []atom) bool {
	if n.kind == nativeCmp {
		n.atom = slices.IndexFunc(atoms, func(a atom) bool {
			return a.score == n.v && cmpOps[a.op] == n.op && math.Float64bits(a.c) == math.Float64bits(n.c)
		})
		return n.atom >= 0
	}
	for _, k := range n.kids {
		if !k.bindAtoms(atoms) {
			return false
		}
	}
	return true
}

func isIdent(e ast.Expr, name string) bool {
	return e.Kind() == ast.IdentKind && e.AsIdent() == name
}

// constString recognises a string literal.
func constString(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().Value().(string)
	return s, ok
}

// tierString recognises tier.name (0) and tier.previous (2), the slots of
// tierFields.
func tierString(e ast.Expr) (int, bool) {
	if e.Kind() != ast.SelectKind {
		return 0, false
	}
	sel := e.AsSelect()
	if sel.IsTestOnly() || !isIdent(sel.Operand(), "tier") {
		return 0, false
	}
	switch sel.FieldName() {
	case "name":
		return 0, true
	case "previous":
		return 2, true
	}
	return 0, false
}

// counterRead recognises counters.key and counters['key'].
func counterRead(e ast.Expr) (string, bool) {
	switch e.Kind() {
	case ast.SelectKind:
		sel := e.AsSelect()
		if !sel.IsTestOnly() && isIdent(sel.Operand(), "counters") {
			return sel.FieldName(), true
		}
	case ast.CallKind:
		call := e.AsCall()
		if args := call.Args(); call.FunctionName() == operators.Index && !call.IsMemberFunction() &&
			len(args) == 2 && isIdent(args[0], "counters") {
			return constString(args[1])
		}
	}
	return "", false
}

// rfmRead recognises rfm.<field> (its slot in rfmFields).
func rfmRead(e ast.Expr) (int, bool) {
	if e.Kind() != ast.SelectKind {
		return 0, false
	}
	sel := e.AsSelect()
	if sel.IsTestOnly() || !isIdent(sel.Operand(), "rfm") {
		return 0, false
	}
	i := slices.Index(rfmFields, sel.FieldName())
	return i, i >= 0
}

// attrRead recognises attrs.key and attrs['key'].
func attrRead(e ast.Expr) (string, bool) {
	switch e.Kind() {
	case ast.SelectKind:
		sel := e.AsSelect()
		if !sel.IsTestOnly() && isIdent(sel.Operand(), "attrs") {
			return sel.FieldName(), true
		}
	case ast.CallKind:
		call := e.AsCall()
		if args := call.Args(); call.FunctionName() == operators.Index && !call.IsMemberFunction() &&
			len(args) == 2 && isIdent(args[0], "attrs") {
			return constString(args[1])
		}
	}
	return "", false
}

// eval evaluates the rule on v.
func (n *nativeNode) eval(v *ruleVals) tri {
	switch n.kind {
	case nativeConst:
		return n.b
	case nativeCmp:
		if v.truth != nil {
			return triOf(v.truth[v.atoms[n.atom]])
		}
		return triOf(n.op.holds(v.get(n.v), n.c))
	case nativeTier:
		s := v.name
		if n.v != 0 {
			s = v.previous
		}
		return triOf((s == n.s) != n.neg)
	case nativeHas:
		_, ok := v.attrs[n.s]
		return triOf(ok)
	case nativeAttrEq:
		a, ok := v.attrs[n.key]
		if !ok {
			return triErr
		}
		return triOf((a == n.s) != n.neg)
	case nativeInTags:
		return triOf(slices.Contains(v.tags, n.s))
	case nativeCounter:
		x, ok := v.counters[n.key]
		if !ok {
			return triErr
		}
		return triOf(n.op.holds(x, n.c))
	case nativeRFM:
		x := [...]int{v.rfm.Recency, v.rfm.Frequency, v.rfm.Monetary, v.rfm.Score()}[n.v]
		return triOf(n.op.holds(float64(x), n.c))
	case nativeAnd, nativeOr:
		stop := triFalse // the value that decides: false for &&, true for ||
		if n.kind == nativeOr {
			stop = triTrue
		}
		l := n.kids[0].eval(v)
		if l == stop {
			return stop
		}
		r := n.kids[1].eval(v)
		switch {
		case r == stop:
			return stop
		case l == triErr || r == triErr:
			return triErr
		}
		return 1 - stop
	case nativeNot:
		switch x := n.kids[0].eval(v); x {
		case triErr:
			return triErr
		case triTrue:
			return triFalse
		}
		return triTrue
	}
	// nativeCond
	switch n.kids[0].eval(v) {
	case triErr:
		return triErr
	case triTrue:
		return n.kids[1].eval(v)
	}
	return n.kids[2].eval(v)
}
