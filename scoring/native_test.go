package scoring

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// nativeInput is one input of a rule: what both evaluators read.
type nativeInput struct {
	in             RuleInput
	days           float64
	name, previous string
}

// evalBoth evaluates r on x with CEL and natively (with comparisons
// evaluated, and with them read as atom truths, as dimensionDue does).
func evalBoth(r *Rule, x *nativeInput) (cel bool, celErr error, native, atoms tri) {
	a := newRuleActivation()
	a.set(&x.in)
	a.setTier(x.name, x.days, x.previous)
	cel, celErr = r.eval(a)
	var v ruleVals
	v.setInput(&x.in)
	v.name, v.previous = x.name, x.previous
	v.vals[varTierDays] = x.days
	v.have |= 1 << varTierDays
	native = r.native.eval(&v)
	v.truth = make([]bool, len(r.timing.atoms))
	v.atoms = make([]int32, len(r.timing.atoms))
	for k, at := range r.timing.atoms {
		v.atoms[k] = int32(k)
		v.truth[k] = cmpOps[at.op].holds(v.vals[at.score], at.c)
	}
	atoms = r.native.eval(&v)
	return cel, celErr, native, atoms
}

// checkNative requires the native evaluation of r to equal CEL's on x: the
// same bool, and an error exactly where CEL fails.
func checkNative(t testing.TB, r *Rule, x *nativeInput) {
	t.Helper()
	if r.native == nil {
		checkHolds(t, r, x)
		return
	}
	cel, celErr, native, atoms := evalBoth(r, x)
	if native != atoms {
		t.Fatalf("%s on %+v: native %d, from atom truths %d", r.Source, *x, native, atoms)
	}
	if (native == triTrue) != cel || (native == triErr) != (celErr != nil) {
		t.Fatalf("%s on %+v: native %d, CEL %v (error %v)", r.Source, *x, native, cel, celErr)
	}
	checkHolds(t, r, x)
}

// checkHolds requires Rule.holds, which placement calls, to give CEL's
// result (with every variable loaded), through an activation reused for
// every input as placers do (a rule evaluated by CEL loads only the
// variables it reads).
func checkHolds(t testing.TB, r *Rule, x *nativeInput) {
	t.Helper()
	a := newRuleActivation()
	a.set(&x.in)
	a.setTier(x.name, x.days, x.previous)
	cel, _ := r.eval(a)
	var v ruleVals
	v.setInput(&x.in)
	v.name, v.previous = x.name, x.previous
	v.vals[varTierDays] = x.days
	v.have |= 1 << varTierDays
	if got := r.holds(&v, reusedActivation); got != cel {
		t.Fatalf("%s on %+v: holds %v, CEL %v", r.Source, *x, got, cel)
	}
}

// reusedActivation is the activation checkHolds evaluates through.
var reusedActivation = newRuleActivation()

// The variables a rule evaluated by CEL may read: the scores and tier.days
// it selects, all when it uses scores or tier otherwise.
func TestVariablesRead(t *testing.T) {
	all := uint16(1<<numVars - 1)
	for _, tc := range []struct {
		rule string
		want uint16
	}{
		{"scores.monetary_365d / 1000.0 > scores.purchases_90d", 1<<3 | 1<<4},
		{"scores.activity >= 1.5 || size(tags) > 1", 1 << 0},
		{"tier.days >= 3.0 && size(tags) > 0 && tier.name == 'x'", 1 << varTierDays},
		{"has(scores.activity) && size(tags) > 0", 0},
		{"tags.exists(scores, scores == 'vip') && scores.fraud_risk > 1.0", all},
		{"size(attrs) > 0", 0},
	} {
		r, _, err := oneRule(tc.rule)
		if err != nil {
			t.Fatalf("%s: %v", tc.rule, err)
		}
		if r.native != nil {
			t.Fatalf("%s: native, want CEL", tc.rule)
		}
		if r.reads != tc.want {
			t.Errorf("%s: reads %b, want %b", tc.rule, r.reads, tc.want)
		}
	}
}

// nativeValues are the values scores take in the property tests: the
// constants the rules compare with, their neighbours, specials.
var nativeValues = []float64{0, math.Copysign(0, -1), -1, 1, 2, 2.5, 7, 30, 60, 85, 10000, 45000, 50000,
	math.Nextafter(50000, 0), math.Nextafter(50000, math.Inf(1)), 1e300, -1e300, 9.223372036854775807e18,
	1.8446744073709552e19, math.Inf(1), math.Inf(-1), math.NaN(), 0.1, 3}

// randomNativeInput draws an input: scores from nativeValues or random,
// tier names, attributes and tags present or not.
func randomNativeInput(r *rand.Rand) *nativeInput {
	val := func() float64 {
		if r.IntN(3) == 0 {
			return (r.Float64() - 0.3) * math.Pow(10, float64(r.IntN(7)))
		}
		return nativeValues[r.IntN(len(nativeValues))]
	}
	count := func() int { return []int{0, 1, 2, 3, 7, 9, 30, 41}[r.IntN(8)] }
	x := &nativeInput{days: val()}
	x.in.Scores = Scores{Activity: val(), ActiveDays7: count(), ActiveDays30: count(), Monetary365d: val(),
		Purchases90d: count(), RecencyDays: val(), ChurnRisk: val(), FraudRisk: val()}
	x.in.IdleDays, x.in.AgeDays = val(), val()
	names := []string{"", "whale", "churned", "reactivated", "x"}
	x.name, x.previous = names[r.IntN(len(names))], names[r.IntN(len(names))]
	if r.IntN(4) > 0 {
		x.in.Attrs = map[string]string{}
		for _, k := range []string{"region", "plan"} {
			if r.IntN(2) == 0 {
				x.in.Attrs[k] = []string{"eu", "us", "gold", ""}[r.IntN(4)]
			}
		}
	}
	if r.IntN(4) > 0 {
		for _, tag := range []string{"vip", "returned", "coupon_farmer"} {
			if r.IntN(2) == 0 {
				x.in.Tags = append(x.in.Tags, tag)
			}
		}
	}
	return x
}

// randomRule writes a random rule of the grammar the native evaluator
// compiles, sometimes with a part it does not (then CEL evaluates it).
func randomRule(r *rand.Rand, depth int) string {
	if depth > 0 && r.IntN(3) > 0 {
		a, b := randomRule(r, depth-1), randomRule(r, depth-1)
		switch r.IntN(4) {
		case 0:
			return "(" + a + " && " + b + ")"
		case 1:
			return "(" + a + " || " + b + ")"
		case 2:
			return "!(" + a + ")"
		}
		return "(" + randomRule(r, depth-1) + " ? " + a + " : " + b + ")"
	}
	nums := []string{"0", "0.0", "-1", "2.5", "7", "7u", "30.0", "50000", "45000.0", "60", "1e300", "-0.0",
		"9223372036854775807", "18446744073709551615u", "50.0 * 1000.0", "0.0 / 0.0", "1.0 / 0.0"}
	num := nums[r.IntN(len(nums))]
	ops := []string{"<", "<=", ">", ">="}
	op := ops[r.IntN(len(ops))]
	step := []string{"monetary_365d", "fraud_risk"}[r.IntN(2)]
	switch r.IntN(14) {
	case 0, 1, 2:
		f := scoreFields[r.IntN(len(scoreFields))]
		if r.IntN(2) == 0 {
			return num + " " + op + " scores." + f
		}
		return "scores." + f + " " + op + " " + num
	case 3:
		return "scores." + step + " " + []string{"==", "!="}[r.IntN(2)] + " " + []string{"0.0", "50000.0", "0.0 / 0.0", "-0.0"}[r.IntN(4)]
	case 4:
		return "tier.days " + op + " " + num
	case 5:
		return []string{"tier.name == 'whale'", "'churned' != tier.name", "tier.previous == ''", "tier.previous != 'x'"}[r.IntN(4)]
	case 6:
		return []string{"has(attrs.region)", "has(attrs.plan)"}[r.IntN(2)]
	case 7:
		return []string{"attrs.region == 'eu'", "'us' != attrs.region", "attrs['plan'] == 'gold'", "attrs.plan != ''"}[r.IntN(4)]
	case 8:
		return []string{"'vip' in tags", "'coupon_farmer' in tags"}[r.IntN(2)]
	case 9:
		return []string{"true", "false"}[r.IntN(2)]
	case 10: // not native: CEL evaluates the whole rule
		return []string{"size(tags) > 1", "scores.monetary_365d / 2.0 > 100.0", "attrs.region.startsWith('e')",
			"scores.monetary_365d > scores.fraud_risk", "tags.exists(t, t == 'vip')"}[r.IntN(5)]
	}
	return "scores." + step + " " + op + " " + num
}

// exampleRules returns every rule of the example model files, then those
// of the test models (whose rules may need CEL: due.hcl's watch adds
// scores).
func exampleRules(t testing.TB) (rules []*Rule, examples int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example model files: %v", err)
	}
	var specs []*ModelSpec
	for _, f := range files {
		spec, err := loadExample(filepath.Base(f))
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, spec)
	}
	nExamples := len(specs)
	for name, src := range map[string]string{"due.hcl": dueModel, "place.hcl": placeModel} {
		spec, err := ParseModelFile(name, []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, spec)
	}
	specs = append(specs, thirtyRules(t))
	for i, spec := range specs {
		if i == nExamples {
			examples = len(rules)
		}
		for _, d := range spec.Dimensions {
			for _, tier := range d.Tiers {
				rules = append(rules, tier.When)
				if tier.Exit != nil {
					rules = append(rules, tier.Exit)
				}
			}
		}
	}
	return rules, examples
}

// Every rule of the example models is evaluated natively, and every rule
// of them and of the test models gives CEL's result on random inputs.
func TestNativeExampleRules(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 43))
	rules, examples := exampleRules(t)
	for i, rule := range rules {
		if rule.native == nil && i < examples {
			t.Errorf("%s (%s) is evaluated by CEL, not natively", rule.Name, rule.Source)
			continue
		}
		for range 2000 {
			checkNative(t, rule, randomNativeInput(r))
		}
	}
	t.Logf("%d rules", len(rules))
}

// Native evaluation equals CEL's for random rules of every construct it
// compiles — comparisons either way round with int, uint and double
// constants, NaN and infinities, tier names, attributes present or not,
// tags, &&, ||, !, ?: — on random inputs; rules it does not compile are
// left to CEL.
func TestNativeMatchesCEL(t *testing.T) {
	r := rand.New(rand.NewPCG(47, 53))
	native, fallback, rejected := 0, 0, 0
	for range 600 {
		src := randomRule(r, 3)
		rule, _, err := oneRule(src)
		if err != nil {
			rejected++ // a continuous score compared with ==, say
			continue
		}
		if rule.native == nil {
			fallback++
			for range 100 {
				checkHolds(t, rule, randomNativeInput(r))
			}
			if !strings.Contains(src, "size(") && !strings.Contains(src, "/ 2.0") && !strings.Contains(src, "startsWith") &&
				!strings.Contains(src, "> scores.") && !strings.Contains(src, "exists(") {
				t.Errorf("%s: not compiled natively", src)
			}
			continue
		}
		native++
		for range 300 {
			checkNative(t, rule, randomNativeInput(r))
		}
	}
	t.Logf("%d rules native, %d left to CEL, %d rejected at load", native, fallback, rejected)
	if native < 300 || fallback < 20 {
		t.Errorf("%d native and %d CEL rules: the cases are not varied enough", native, fallback)
	}
}

// FuzzNativeMatchesCEL: for a rule of the examples or a generated one
// (seeded by rule), and scores given by their bits, native evaluation
// equals CEL's.
func FuzzNativeMatchesCEL(f *testing.F) {
	f.Add(uint64(0), uint64(0), math.Float64bits(50000), math.Float64bits(85), math.Float64bits(7), "whale", "eu", "vip")
	f.Add(uint64(3), uint64(9), math.Float64bits(math.NaN()), math.Float64bits(math.Inf(-1)), uint64(1<<63), "", "", "")
	f.Add(uint64(11), uint64(2), math.Float64bits(45000), math.Float64bits(60), math.Float64bits(30), "churned", "us", "coupon_farmer")
	rules, _ := exampleRules(f)
	f.Fuzz(func(t *testing.T, which, seed, a, b, c uint64, name, region, tag string) {
		var rule *Rule
		if which%2 == 0 {
			rule = rules[int(which/2%uint64(len(rules)))]
		} else {
			src := randomRule(rand.New(rand.NewPCG(which, seed)), 3)
			var err error
			if rule, _, err = oneRule(src); err != nil {
				return
			}
		}
		x := &nativeInput{days: math.Float64frombits(c), name: name, previous: region}
		fa, fb, fc := math.Float64frombits(a), math.Float64frombits(b), math.Float64frombits(c)
		x.in.Scores = Scores{Activity: fa, ActiveDays7: int(seed % 10), ActiveDays30: int(seed % 31), Monetary365d: fa,
			Purchases90d: int(seed % 50), RecencyDays: fb, ChurnRisk: fc, FraudRisk: fb}
		x.in.IdleDays, x.in.AgeDays = fc, fa
		if region != "" {
			x.in.Attrs = map[string]string{"region": region}
		}
		if tag != "" {
			x.in.Tags = []string{tag}
		}
		checkNative(t, rule, x)
	})
}
