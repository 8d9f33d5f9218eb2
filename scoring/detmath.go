package scoring

import "math"

// Deterministic exp, exp2 and log.
//
// Scores are stored in user state and published, and thresholds decide
// tiers, so every replica must compute the same bits (RELIABILITY.md I5).
// The standard library's math.Exp, math.Exp2 and math.Log do not guarantee
// that: they have assembly implementations on some architectures (amd64,
// arm64, s390x, loong64), and math.Exp on amd64 even picks its code path by
// CPU feature (FMA). The functions below are pure Go, use only IEEE-754
// basic operations (+ − × ÷, each correctly rounded) and exact bit
// manipulation, and so give identical results on every platform.
//
// The Go spec lets a compiler fuse x*y + z into one fused multiply-add
// (arm64, ppc64le, s390x, riscv64, and amd64 with GOAMD64=v3 do), which
// skips the rounding of x*y. An explicit conversion float64(x*y) forces that
// rounding, so every product and quotient below is wrapped in float64(...).
//
// The algorithms are those of FreeBSD msun (e_exp.c, e_log.c): argument
// reduction by a multiple of ln 2 held as Ln2Hi + Ln2Lo, a degree-5 Remez
// polynomial for exp and a degree-7 one (in s², s = f/(2+f)) for log. Both
// are accurate to < 1 ulp.

const (
	dmLn2Hi  = 6.93147180369123816490e-01 // 0x3fe62e42fee00000: ln 2 to 32 bits, so k·dmLn2Hi is exact for |k| < 2^21
	dmLn2Lo  = 1.90821492927058770002e-10 // 0x3dea39ef35793c76: ln 2 − dmLn2Hi
	dmInvLn2 = 1.44269504088896338700e+00 // 0x3ff71547652b82fe: 1/ln 2

	// exp(x) overflows above expOverflow and rounds to 0 below expUnderflow.
	expOverflow  = 7.09782712893383973096e+02  // 0x40862e42fefa39ef
	expUnderflow = -7.45133219101941108420e+02 // 0xc0874910d52d3051

	// Remez polynomial for exp on [−ln2/2, ln2/2] (R(r²) ≈ r·(e^r+1)/(e^r−1)).
	expP1 = 1.66666666666666019037e-01  // 0x3fc555555555553e
	expP2 = -2.77777777770155933842e-03 // 0xbf66c16c16bebd93
	expP3 = 6.61375632143793436117e-05  // 0x3f11566aaf25de2c
	expP4 = -1.65339022054652515390e-06 // 0xbebbbd41c5d26bf1
	expP5 = 4.13813679705723846039e-08  // 0x3e66376972bea4d0

	// Remez polynomial for log: R(z) ≈ Lg1·z + Lg2·z² + … + Lg7·z⁷, z = s².
	logLg1 = 6.666666666666735130e-01 // 0x3fe5555555555593
	logLg2 = 3.999999999940941908e-01 // 0x3fd999999997fa04
	logLg3 = 2.857142874366239149e-01 // 0x3fd2492494229359
	logLg4 = 2.222219843214978396e-01 // 0x3fcc71c51d8e78af
	logLg5 = 1.818357216161805012e-01 // 0x3fc7466496cb03de
	logLg6 = 1.531383769920937332e-01 // 0x3fc39a09d078c69f
	logLg7 = 1.479819860511658591e-01 // 0x3fc2f112df3e5244

	dmTwo54 = 1 << 54 // 0x4350000000000000
)

// detExp returns e**x, within 1 ulp, bit-identical on every platform.
// Special cases as math.Exp: Exp(+Inf) = +Inf, Exp(-Inf) = 0, Exp(NaN) =
// NaN; very large x overflow to +Inf, very negative x underflow to 0.
func detExp(x float64) float64 {
	switch {
	case x != x: // NaN
		return x
	case x > expOverflow: // also +Inf
		return math.Inf(1)
	case x < expUnderflow: // also −Inf
		return 0
	}
	hx := uint32(math.Float64bits(x)>>32) & 0x7fffffff // high word of |x|
	var hi, lo float64
	k := 0
	switch {
	case hx >= 0x3fd62e42: // |x| > ln2/2: x = k·ln2 + r, r = hi − lo, |r| ≤ ln2/2
		if hx < 0x3ff0a2b2 { // |x| < 1.5·ln2: k = ±1
			if x == 1 {
				return math.E // the formula gives e 1 ulp high (as in msun)
			}
			if x > 0 {
				hi, lo, k = x-dmLn2Hi, dmLn2Lo, 1
			} else {
				hi, lo, k = x+dmLn2Hi, -dmLn2Lo, -1
			}
		} else {
			// Round invLn2·x to the nearest integer (half away from zero) by
			// truncation; |x| ≤ 746 keeps it far inside int's range.
			if x > 0 {
				k = int(float64(dmInvLn2*x) + 0.5)
			} else {
				k = int(float64(dmInvLn2*x) - 0.5)
			}
			t := float64(k)
			hi = x - float64(t*dmLn2Hi) // t·Ln2Hi is exact
			lo = float64(t * dmLn2Lo)
		}
		x = hi - lo
	case hx < 0x3e300000: // |x| < 2^-28: e^x = 1 + x to within half an ulp
		return 1 + x
	}
	t := float64(x * x)
	c := x - float64(t*(expP1+float64(t*(expP2+float64(t*(expP3+float64(t*(expP4+float64(t*expP5)))))))))
	if k == 0 {
		return 1 - (float64(float64(x*c)/(c-2)) - x)
	}
	y := 1 - ((lo - float64(float64(x*c)/(2-c))) - hi)
	return detScale(y, k)
}

// detExp2 returns 2**x, within 1 ulp, bit-identical on every platform.
// Special cases as math.Exp2: Exp2(+Inf) = +Inf, Exp2(-Inf) = 0, Exp2(NaN)
// = NaN; x ≥ 1024 overflows to +Inf, x < −1074 underflows to 0.
func detExp2(x float64) float64 {
	switch {
	case x != x: // NaN
		return x
	case x >= 1024: // also +Inf
		return math.Inf(1)
	case x < -1074: // also −Inf
		return 0
	}
	// x = k + t with k the nearest integer and |t| ≤ 1/2 (t is exact); then
	// 2^t = e^r with r = t·ln2 = hi − lo, |r| ≤ ln2/2.
	k := 0
	if x > 0 {
		k = int(x + 0.5)
	} else if x < 0 {
		k = int(x - 0.5)
	}
	t := x - float64(k)
	hi := float64(t * dmLn2Hi)
	lo := -float64(t * dmLn2Lo)
	r := hi - lo
	z := float64(r * r)
	c := r - float64(z*(expP1+float64(z*(expP2+float64(z*(expP3+float64(z*(expP4+float64(z*expP5)))))))))
	y := 1 - ((lo - float64(float64(r*c)/(2-c))) - hi)
	return detScale(y, k)
}

// detScale returns y·2^k for y in about [0.7, 1.5] and −1075 ≤ k ≤ 1024,
// rounded once (as the final multiplication of e^r by 2^k in msun).
func detScale(y float64, k int) float64 {
	switch {
	case k > 1023: // 2^1024 is not a float64
		return float64(float64(y*2) * 0x1p1023)
	case k >= -1021:
		return float64(y * math.Float64frombits(uint64(0x3ff+k)<<52))
	default: // subnormal result: y·2^(k+1000) is exact, the last step rounds
		return float64(float64(y*math.Float64frombits(uint64(0x3ff+k+1000)<<52)) * 0x1p-1000)
	}
}

// detLog returns the natural logarithm of x, within 1 ulp, bit-identical on
// every platform. Special cases as math.Log: Log(+Inf) = +Inf, Log(±0) =
// −Inf, Log(x < 0) = NaN, Log(NaN) = NaN.
func detLog(x float64) float64 {
	bits := math.Float64bits(x)
	hx := int32(bits >> 32) // high word, signed
	k := int32(0)
	if hx < 0x00100000 { // x < 2^-1022: zero, negative, subnormal (or negative NaN)
		switch {
		case bits&^(1<<63) == 0:
			return math.Inf(-1)
		case hx < 0:
			return math.NaN()
		}
		k -= 54
		x = float64(x * dmTwo54) // exact: scale the subnormal up
		bits = math.Float64bits(x)
		hx = int32(bits >> 32)
	}
	if hx >= 0x7ff00000 { // +Inf or NaN
		return x + x
	}
	// x = 2^k·(1+f) with √2/2 ≤ 1+f < √2.
	k += hx>>20 - 1023
	hx &= 0x000fffff
	i := (hx + 0x95f64) & 0x100000 // set when the mantissa ≥ √2: use x/2
	x = math.Float64frombits(uint64(uint32(hx|(i^0x3ff00000)))<<32 | bits&0xffffffff)
	k += i >> 20
	f := x - 1
	dk := float64(k)
	if 0x000fffff&(2+hx) < 3 { // −2^-20 ≤ f < 2^-20
		if f == 0 {
			if k == 0 {
				return 0
			}
			return float64(dk*dmLn2Hi) + float64(dk*dmLn2Lo)
		}
		r := float64(float64(f*f) * (0.5 - float64(0.33333333333333333*f)))
		if k == 0 {
			return f - r
		}
		return float64(dk*dmLn2Hi) - ((r - float64(dk*dmLn2Lo)) - f)
	}
	s := float64(f / (2 + f))
	z := float64(s * s)
	w := float64(z * z)
	t1 := float64(w * (logLg2 + float64(w*(logLg4+float64(w*logLg6)))))
	t2 := float64(z * (logLg1 + float64(w*(logLg3+float64(w*(logLg5+float64(w*logLg7)))))))
	r := t2 + t1
	if (hx-0x6147a)|(0x6b851-hx) > 0 { // mantissa of x in about [1.38, 1.42]: |f| near its largest
		hfsq := float64(float64(0.5*f) * f)
		if k == 0 {
			return f - (hfsq - float64(s*(hfsq+r)))
		}
		return float64(dk*dmLn2Hi) - ((hfsq - (float64(s*(hfsq+r)) + float64(dk*dmLn2Lo))) - f)
	}
	if k == 0 {
		return f - float64(s*(f-r))
	}
	return float64(dk*dmLn2Hi) - ((float64(s*(f-r)) - float64(dk*dmLn2Lo)) - f)
}
