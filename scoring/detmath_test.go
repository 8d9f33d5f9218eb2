package scoring

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// ulps returns the distance between a and b in units in the last place:
// the number of float64 values between them (0 if they are the same bits,
// or both NaN). Values of different signs count through zero.
func ulps(a, b float64) uint64 {
	if math.IsNaN(a) && math.IsNaN(b) {
		return 0
	}
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.MaxUint64
	}
	ord := func(x float64) int64 { // monotone map float64 → int64; +0 and −0 both map to 0
		u := math.Float64bits(x)
		if u>>63 != 0 {
			return -int64(u &^ (1 << 63))
		}
		return int64(u)
	}
	d := ord(a) - ord(b)
	if d < 0 {
		d = -d
	}
	return uint64(d)
}

const refPrec = 256 // bits of the big.Float reference

// refLn2 is ln 2 to 100 digits.
var refLn2, _, _ = big.ParseFloat("0.6931471805599453094172321214581765680755001343602552541206800094933936219696947156058633269964186875", 10, refPrec, big.ToNearestEven)

// refExp returns e^x to about 250 bits (for |x| < 1100): x = k·ln2 + r,
// e^r = (e^(r/1024))^1024 with a Taylor series for e^(r/1024).
func refExp(x *big.Float) *big.Float {
	xf, _ := x.Float64()
	k := math.Round(xf / math.Ln2)
	r := new(big.Float).SetPrec(refPrec).Mul(big.NewFloat(k), refLn2)
	r.Sub(x, r)
	r.SetMantExp(r, -10)
	sum := new(big.Float).SetPrec(refPrec).SetInt64(1)
	term := new(big.Float).SetPrec(refPrec).SetInt64(1)
	for n := int64(1); n < 60; n++ {
		term.Mul(term, r)
		term.Quo(term, new(big.Float).SetInt64(n))
		sum.Add(sum, term)
	}
	for range 10 {
		sum.Mul(sum, sum)
	}
	return sum.SetMantExp(sum, int(k))
}

// refULPs returns |got − want| in ulps of want (the spacing of float64
// values at want's magnitude, 2^-1074 for subnormals); want is exact-ish.
func refULPs(got float64, want *big.Float) float64 {
	if want.Sign() == 0 {
		return math.Abs(got) / math.SmallestNonzeroFloat64
	}
	e := max(want.MantExp(nil)-53, -1074) // want = m·2^e', m in [0.5, 1): ulp = 2^(e'−53)
	d := new(big.Float).SetPrec(refPrec).Sub(new(big.Float).SetFloat64(got), want)
	d.SetMantExp(d, -e)
	f, _ := d.Float64()
	return math.Abs(f)
}

// refErr returns the error of name(x) = got in ulps of the true value,
// computed with big.Float: e^x, 2^x = e^(x·ln2), and ln x by one Newton
// step y + (x − e^y)/e^y from y = got, which doubles got's ~53 correct bits.
func refErr(name string, x, got float64) float64 {
	bx := new(big.Float).SetPrec(refPrec).SetFloat64(x)
	switch name {
	case "exp":
		return refULPs(got, refExp(bx))
	case "exp2":
		return refULPs(got, refExp(bx.Mul(bx, refLn2)))
	}
	ey := refExp(new(big.Float).SetPrec(refPrec).SetFloat64(got))
	y := new(big.Float).SetPrec(refPrec).Sub(bx, ey)
	y.Quo(y, ey)
	y.Add(y, new(big.Float).SetFloat64(got))
	return refULPs(got, y)
}

// TestDetMathVsStdlib compares detExp, detExp2 and detLog with the standard
// library over seeded random inputs covering the ranges scoring uses (and the
// whole finite domain more sparsely): every result must be within 1 ulp of
// math's. math.Exp on amd64 is itself up to ~1.4 ulp off, so where the two
// are 2 ulp apart the result must instead be within 1 ulp of the true value
// (big.Float reference) — and it always is closer than math's.
// TestDetMathAccuracy checks against the true value directly.
func TestDetMathVsStdlib(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	for _, f := range detFuncs() {
		r := rand.New(rand.NewPCG(0x5717a7a, 0xde7e))
		var differ, twoULP int
		var worst uint64
		var worstX, worstRef float64
		for range n {
			x := f.gen(r)
			got, want := f.det(x), f.std(x)
			u := ulps(got, want)
			if u == 0 {
				continue
			}
			differ++
			if u == 2 {
				twoULP++
				errDet, errStd := refErr(f.name, x, got), refErr(f.name, x, want)
				if errDet >= 1 || errDet > errStd {
					t.Errorf("%s(%v) = %v is %.3f ulp from the true value, math's %v %.3f ulp",
						f.name, x, got, errDet, want, errStd)
				}
				worstRef = max(worstRef, errDet)
				continue
			}
			if u > worst {
				worst, worstX = u, x
			}
		}
		t.Logf("%s: %d inputs; %d differ from math by 1 ulp, %d by 2 ulp (there ours is %.3f ulp from the truth at worst)",
			f.name, n, differ-twoULP, twoULP, worstRef)
		if worst > 2 {
			t.Errorf("%s(%v) = %v, math gives %v: %d ulp apart, want ≤ 1",
				f.name, worstX, f.det(worstX), f.std(worstX), worst)
		}
	}
}

// TestDetMathAccuracy measures the error of detExp, detExp2 and detLog
// against the true value (big.Float reference) on a seeded sample; msun's
// algorithms are accurate to < 1 ulp.
func TestDetMathAccuracy(t *testing.T) {
	n := 10_000
	if testing.Short() {
		n = 1_000
	}
	for _, f := range detFuncs() {
		r := rand.New(rand.NewPCG(0xacc, 0x0ae))
		var worst, worstX float64
		for range n {
			x := f.gen(r)
			if e := refErr(f.name, x, f.det(x)); e > worst {
				worst, worstX = e, x
			}
		}
		t.Logf("%s: %d inputs, max error %.4f ulp (at %v)", f.name, n, worst, worstX)
		if worst >= 1 {
			t.Errorf("%s(%v) = %v: %.4f ulp from the true value, want < 1", f.name, worstX, f.det(worstX), worst)
		}
	}
}

type detFunc struct {
	name     string
	det, std func(float64) float64
	gen      func(r *rand.Rand) float64
}

// detFuncs returns the functions under test with input generators covering
// the ranges scoring uses and, more sparsely, the rest of the domain.
func detFuncs() []detFunc {
	uni := func(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }
	return []detFunc{
		{name: "exp", det: detExp, std: math.Exp, gen: func(r *rand.Rand) float64 {
			switch r.IntN(10) {
			case 0: // almost all the finite range, into underflow (amd64's math.Exp
				// overflows early above ≈ 709.436: see TestDetMathSpecialCases)
				return uni(r, -746, 709.4)
			case 1: // near 0 and near ±ln2/2, ±1.5·ln2 (branch edges)
				return uni(r, -1.1, 1.1)
			}
			return uni(r, -50, 50) // sigmoid of churn and fraud logits
		}},
		{name: "exp2", det: detExp2, std: math.Exp2, gen: func(r *rand.Rand) float64 {
			switch r.IntN(10) {
			case 0:
				return uni(r, -1074, 1024)
			case 1:
				return uni(r, -1, 1)
			}
			return uni(r, -200, 10) // activity decay: −age/halfLife
		}},
		{name: "log", det: detLog, std: math.Log, gen: func(r *rand.Rand) float64 {
			switch r.IntN(10) {
			case 0: // any positive normal float64 (amd64's math.Log is wrong on
				// subnormals: see TestDetMathSpecialCases)
				return math.Float64frombits(0x0010000000000000 + r.Uint64N(0x7ff0000000000000-0x0010000000000000))
			case 1: // near 1, where log cancels
				return 1 + uni(r, -1e-3, 1e-3)
			case 2: // near √2 and √2/2, the reduction boundary
				return math.Sqrt2 * (1 + uni(r, -0.05, 0.05)) / float64(int(1)<<r.IntN(2))
			}
			return math.Pow(10, uni(r, -12, 12)) // logit thresholds: T/(100−T)
		}},
	}
}

// TestDetMathSpecialCases checks the special values (as math documents them)
// and the edges of the domain. Expected values are exact where the result is
// exact, otherwise the correctly rounded result (computed with 300-bit
// arithmetic) with a tolerance of 1 ulp. They are constants, not math.*
// calls: on amd64 math.Exp returns +Inf for finite results just below the
// overflow threshold (x ≳ 709.44) and math.Log mishandles subnormal inputs
// (golang/go#56600) — one more reason scoring does not use them.
func TestDetMathSpecialCases(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	negZero := math.Copysign(0, -1)
	tests := []struct {
		name    string
		f       func(float64) float64
		x, want float64
		ulp     uint64 // tolerance
	}{
		{"exp", detExp, nan, nan, 0},
		{"exp", detExp, inf, inf, 0},
		{"exp", detExp, -inf, 0, 0},
		{"exp", detExp, 0, 1, 0},
		{"exp", detExp, negZero, 1, 0},
		{"exp", detExp, 1e-300, 1, 0},
		{"exp", detExp, 1, math.E, 0},
		{"exp", detExp, -1, 0.36787944117144233, 1},
		{"exp", detExp, 709.44, 1.2760780590224528e+308, 1},           // math.Exp gives +Inf on amd64
		{"exp", detExp, 709.78, 1.7928227943945155e+308, 1},           // math.Exp gives +Inf on amd64
		{"exp", detExp, expOverflow, 1.7976931348622732e+308, 1},      // largest finite input
		{"exp", detExp, math.Nextafter(expOverflow, inf), inf, 0},     // overflow
		{"exp", detExp, 1000, inf, 0},                                 // overflow
		{"exp", detExp, -708, 3.307553003638408e-308, 1},              // smallest normal results
		{"exp", detExp, -740, 4.2e-322, 0},                            // subnormal
		{"exp", detExp, expUnderflow, math.SmallestNonzeroFloat64, 0}, // rounds up to 2^-1074
		{"exp", detExp, math.Nextafter(expUnderflow, -inf), 0, 0},     // underflow
		{"exp", detExp, -1000, 0, 0},                                  // underflow
		{"exp2", detExp2, nan, nan, 0},
		{"exp2", detExp2, inf, inf, 0},
		{"exp2", detExp2, -inf, 0, 0},
		{"exp2", detExp2, 0, 1, 0},
		{"exp2", detExp2, negZero, 1, 0},
		{"exp2", detExp2, 1, 2, 0},
		{"exp2", detExp2, -1, 0.5, 0},
		{"exp2", detExp2, 10, 1024, 0},
		{"exp2", detExp2, -57, 0x1p-57, 0},
		{"exp2", detExp2, 0.5, math.Sqrt2, 1},
		{"exp2", detExp2, 1023, 0x1p1023, 0},
		{"exp2", detExp2, 1024 - 0x1p-42, 1.7976931348620325e+308, 1}, // k = 1024, finite
		{"exp2", detExp2, 1024, inf, 0},
		{"exp2", detExp2, -1022, 0x1p-1022, 0},
		{"exp2", detExp2, -1030, 0x1p-1030, 0}, // subnormal, exact
		{"exp2", detExp2, -1074, math.SmallestNonzeroFloat64, 0},
		{"exp2", detExp2, -1074.25, 0, 0}, // below −1074 underflows, as in math.Exp2
		{"exp2", detExp2, -2000, 0, 0},
		{"log", detLog, nan, nan, 0},
		{"log", detLog, -nan, nan, 0},
		{"log", detLog, inf, inf, 0},
		{"log", detLog, -inf, nan, 0},
		{"log", detLog, -1, nan, 0},
		{"log", detLog, -math.SmallestNonzeroFloat64, nan, 0},
		{"log", detLog, 0, -inf, 0},
		{"log", detLog, negZero, -inf, 0},
		{"log", detLog, 1, 0, 0},
		{"log", detLog, 2, math.Ln2, 0},
		{"log", detLog, 0x1p-10, -10 * math.Ln2, 1},
		{"log", detLog, math.E, 1, 1},
		{"log", detLog, 10, math.Ln10, 1},
		{"log", detLog, math.MaxFloat64, 709.782712893384, 1},
		{"log", detLog, 0x1p-1022, -708.3964185322641, 1},
		{"log", detLog, 1.3381971367979e-310, -713.5100555403819, 1}, // subnormal: math.Log is wrong on amd64
		{"log", detLog, math.SmallestNonzeroFloat64, -744.4400719213812, 1},
		{"log", detLog, 1.5 / 98.5, -4.1845914400698785, 1},
	}
	for _, c := range tests {
		if got := c.f(c.x); ulps(got, c.want) > c.ulp {
			t.Errorf("%s(%v) = %v (%#016x), want %v (%#016x) within %d ulp", c.name, c.x,
				got, math.Float64bits(got), c.want, math.Float64bits(c.want), c.ulp)
		}
	}
}

// TestDetMathGolden pins the exact bits of detExp, detExp2 and detLog on
// fixed inputs, among them those the default model evaluates (σ of the
// documented fraud and churn logits, the threshold logits, decay by whole
// and fractional half-lives). The values were computed once by this
// implementation; a platform or compiler that computes a different bit (a
// fused multiply-add, an assembly routine) fails here, and with it replica
// convergence (RELIABILITY.md I5) would fail.
func TestDetMathGolden(t *testing.T) {
	tests := []struct {
		name string
		f    func(float64) float64
		x    float64
		want uint64
	}{
		{"exp", detExp, 6, 0x407936dc5690c08f},
		{"exp", detExp, 4.3, 0x40526cc96b836d7d},
		{"exp", detExp, 1.65, 0x4014d3f28512ad3e},
		{"exp", detExp, -0.55, 0x3fe2765f72e0901c},
		{"exp", detExp, -2.15, 0x3fbdd1e7e023a770},
		{"exp", detExp, 2 - 0.15, 0x4019707487682618},
		{"exp", detExp, -6.5, 0x3f58a1e18a954ffa},
		{"exp", detExp, 0.3, 0x3ff599058c8c1a96},
		{"exp", detExp, -45.25, 0x3bda51bdddf5768e},
		{"exp", detExp, 700.125, 0x7f10c24ed83b8e53},
		{"exp", detExp, -740.5, 0x0000000000000033},
		{"exp2", detExp2, -1, 0x3fe0000000000000},
		{"exp2", detExp2, -1.0 / 7, 0x3fecfbb031a741a5},
		{"exp2", detExp2, -3.0 / 168, 0x3fef9b3a38208f1a},
		{"exp2", detExp2, -57.142857142857146, 0x3c5cfbb031a74194},
		{"exp2", detExp2, -0.3, 0x3fe9fdf8bcce533e},
		{"exp2", detExp2, 7.75, 0x406ae89f995ad3ae},
		{"exp2", detExp2, -1060.3, 0x00000000000033fc},
		{"log", detLog, 60.0 / 40, 0x3fd9f323ecbf984c},
		{"log", detLog, 85.0 / 15, 0x3ffbc0ed0947fbe9},
		{"log", detLog, 0.999999, 0xbeb0c6f82d74d230},
		{"log", detLog, 1.41, 0x3fd5fd5fabe64084},
		{"log", detLog, 1e-12, 0xc03ba18a998fffa0},
		{"log", detLog, 123456.789, 0x40277281cad8a844},
		{"log", detLog, 5e-324, 0xc0874385446d71c3},
		{"log", detLog, 1 + 0x1p-30, 0x3e0fffffffc00000},   // |f| < 2^-20, k = 0
		{"log", detLog, 2 + 0x1p-24, 0x3fe62e430efa39eb},   // |f| < 2^-20, k = 1
		{"log", detLog, 2.82, 0x3ff096796a76ad18},          // mantissa near √2, k = 1
		{"log", detLog, 0.70710678118, 0xbfd62e42fefcc584}, // just above √2/2: k = −1
	}
	for _, c := range tests {
		if got := math.Float64bits(c.f(c.x)); got != c.want {
			t.Errorf("%s(%v) = %#016x (%v), want %#016x (%v)", c.name, c.x,
				got, c.f(c.x), c.want, math.Float64frombits(c.want))
		}
	}
}

var benchSink float64

// BenchmarkDetExp compares detExp (and detExp2, detLog) with the standard
// library on inputs of the size scoring uses.
func BenchmarkDetExp(b *testing.B) {
	xs := make([]float64, 1024)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range xs {
		xs[i] = -20 + 40*r.Float64()
	}
	pos := make([]float64, len(xs))
	for i, x := range xs {
		pos[i] = math.Exp(x)
	}
	for _, bm := range []struct {
		name string
		f    func(float64) float64
		in   []float64
	}{
		{"det", detExp, xs},
		{"math", math.Exp, xs},
		{"exp2/det", detExp2, xs},
		{"exp2/math", math.Exp2, xs},
		{"log/det", detLog, pos},
		{"log/math", math.Log, pos},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			s, i := 0.0, 0
			for b.Loop() {
				s += bm.f(bm.in[i&1023])
				i++
			}
			benchSink = s
		})
	}
}
