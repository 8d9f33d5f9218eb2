package scoring

import "math"

// Integer regions of atoms. A window sum or count is an integer n that
// rules read as conv(n) (n/1000 for money in milli-units, n for counts);
// conv is monotone (an int64 to float64 conversion and a division by a
// positive constant are correctly rounded), so the n for which an atom
// holds form an interval, or for != the complement of one. Walking a
// state's buckets then checks an integer against the interval of values
// where no atom changes instead of evaluating every atom at every bucket.

// intRegion is a set of int64: [lo, hi] (empty when lo > hi), or its
// complement when neg.
type intRegion struct {
	lo, hi int64
	neg    bool
}

func (r intRegion) contains(n int64) bool { return (r.lo <= n && n <= r.hi) != r.neg }

// firstTrue returns the least n with pred(n) (pred monotone: false, then
// true), or false when pred holds nowhere.
func firstTrue(pred func(int64) bool) (int64, bool) {
	if !pred(math.MaxInt64) {
		return 0, false
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64) // pred(hi); lo is a candidate
	if pred(lo) {
		return lo, true
	}
	for uint64(hi)-uint64(lo) > 1 { // pred(lo) false, pred(hi) true (the difference as uint64: no overflow)
		mid := int64(uint64(lo) + (uint64(hi)-uint64(lo))/2)
		if pred(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, true
}

// newIntRegion returns the n for which op.holds(conv(n), c).
func newIntRegion(op cmpOp, c float64, conv func(int64) float64) intRegion {
	all := intRegion{lo: math.MinInt64, hi: math.MaxInt64}
	none := intRegion{lo: 1, hi: 0}
	if c != c { // NaN: only != holds
		none.neg = op == opNotEquals
		return none
	}
	from := func(ok func(float64) bool) intRegion { // {n : ok(conv(n))}, ok monotone false → true
		if n, found := firstTrue(func(n int64) bool { return ok(conv(n)) }); found {
			return intRegion{lo: n, hi: math.MaxInt64}
		}
		return none
	}
	below := func(r intRegion) intRegion { // the complement of an upward region
		switch {
		case r.lo > r.hi:
			return all
		case r.lo == math.MinInt64:
			return none
		}
		return intRegion{lo: math.MinInt64, hi: r.lo - 1}
	}
	ge := from(func(x float64) bool { return x >= c })
	gt := from(func(x float64) bool { return x > c })
	switch op {
	case opGreaterEquals:
		return ge
	case opGreater:
		return gt
	case opLess:
		return below(ge)
	case opLessEquals:
		return below(gt)
	}
	eq := none // == : at least c and not above it
	switch {
	case ge.lo > ge.hi:
	case gt.lo > gt.hi:
		eq = ge
	case gt.lo > ge.lo:
		eq = intRegion{lo: ge.lo, hi: gt.lo - 1}
	}
	eq.neg = op == opNotEquals
	return eq
}

// cell narrows [lo, hi] (which holds n) to the values around n where r
// contains the same as at n.
func (r intRegion) cell(n int64, lo, hi *int64) {
	switch {
	case r.lo > r.hi: // constant
	case n < r.lo:
		*hi = min(*hi, r.lo-1)
	case n > r.hi:
		*lo = max(*lo, r.hi+1)
	default:
		*lo, *hi = max(*lo, r.lo), min(*hi, r.hi)
	}
}
