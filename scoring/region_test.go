package scoring

import (
	"math"
	"math/rand/v2"
	"testing"
)

// An atom's integer region contains exactly the n for which the atom holds
// on conv(n), for every operator, for constants near integers and
// thousandths, huge ones, infinities and NaN; and the cell around n is the
// largest interval of such n where containment does not change.
func TestIntRegion(t *testing.T) {
	convs := map[string]func(int64) float64{
		"count": func(n int64) float64 { return float64(n) },
		"milli": func(n int64) float64 { return float64(n) / 1000 },
	}
	r := rand.New(rand.NewPCG(61, 67))
	cs := []float64{0, math.Copysign(0, -1), 1, -1, 2.5, 7, 50000, 44999.999, 0.0005, 1e15, 9.007199254740993e15,
		9.223372036854775807e18, 1e300, -1e300, math.Inf(1), math.Inf(-1), math.NaN(), math.Nextafter(50000, 0)}
	for range 200 {
		cs = append(cs, float64(r.Int64N(200_000)-100_000)/[]float64{1, 10, 1000, 7}[r.IntN(4)])
	}
	samples := []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64 - 1, math.MaxInt64}
	checked := 0
	for name, conv := range convs {
		for _, c := range cs {
			for op := opLess; op <= opNotEquals; op++ {
				reg := newIntRegion(op, c, conv)
				ns := append([]int64(nil), samples...)
				for _, k := range []int64{1, 1000} { // around the crossing of c
					if !math.IsInf(c, 0) && !math.IsNaN(c) && math.Abs(c) < 1e15 {
						base := int64(c * float64(k))
						for d := int64(-3); d <= 3; d++ {
							ns = append(ns, base+d)
						}
					}
				}
				for _, b := range []int64{reg.lo, reg.hi} {
					for d := int64(-2); d <= 2; d++ {
						if x := b + d; (d < 0) == (x < b) {
							ns = append(ns, x)
						}
					}
				}
				for range 20 {
					ns = append(ns, r.Int64()-r.Int64())
				}
				for _, n := range ns {
					if got, want := reg.contains(n), op.holds(conv(n), c); got != want {
						t.Fatalf("%s %d %v: contains(%d) = %v, holds %v (region %+v)", name, op, c, n, got, want, reg)
					}
					lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
					reg.cell(n, &lo, &hi)
					if n < lo || n > hi {
						t.Fatalf("%s %d %v: cell [%d, %d] misses %d", name, op, c, lo, hi, n)
					}
					for _, x := range []int64{lo, hi} {
						if reg.contains(x) != reg.contains(n) {
							t.Fatalf("%s %d %v: cell [%d, %d] of %d crosses the region", name, op, c, lo, hi, n)
						}
					}
					if lo > math.MinInt64 && reg.contains(lo-1) == reg.contains(n) {
						t.Fatalf("%s %d %v: cell [%d, %d] of %d could start lower", name, op, c, lo, hi, n)
					}
					if hi < math.MaxInt64 && reg.contains(hi+1) == reg.contains(n) {
						t.Fatalf("%s %d %v: cell [%d, %d] of %d could end higher", name, op, c, lo, hi, n)
					}
					checked++
				}
			}
		}
	}
	t.Logf("%d values checked", checked)
}
