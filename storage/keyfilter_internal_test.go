package storage

import (
	"strconv"
	"testing"
)

func TestKeyFilterNoFalseNegativesFewFalsePositives(t *testing.T) {
	const n = 200_000
	f := newKeyFilter(n)
	fresh := 0
	for i := 0; i < n; i++ {
		if f.add([]byte("u" + strconv.Itoa(i))) {
			fresh++
		}
	}
	for i := 0; i < n; i++ {
		if !f.mayContain([]byte("u" + strconv.Itoa(i))) {
			t.Fatalf("u%d added but not contained", i)
		}
	}
	fp := 0
	for i := 0; i < n; i++ {
		if f.mayContain([]byte("v" + strconv.Itoa(i))) {
			fp++
		}
	}
	// 10 bits and 7 hashes per key in 512-bit blocks: about 1% at capacity.
	if rate := float64(fp) / n; rate > 0.02 {
		t.Errorf("false positive rate %.4f at capacity, want ≤ 0.02", rate)
	}
	// distinct counts adds that set a new bit: about every key.
	if d := f.distinct.Load(); d != int64(fresh) || d < n*98/100 {
		t.Errorf("distinct = %d (fresh adds %d), want about %d", d, fresh, n)
	}
	if f.full() {
		t.Errorf("full at %d of capacity %d", f.distinct.Load(), f.capacity)
	}
	if f.add([]byte("u7")) {
		t.Error("re-adding u7 set a new bit")
	}
}
