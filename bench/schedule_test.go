package bench

import (
	"math"
	"testing"
	"time"
)

func TestScheduleConstant(t *testing.T) {
	s := constant(4000)
	for _, tc := range []struct {
		i    int64
		want time.Duration
	}{{0, 0}, {1, 250 * time.Microsecond}, {4000, time.Second}, {6000, 1500 * time.Millisecond}} {
		if got := s.due(tc.i); got != tc.want {
			t.Errorf("due(%d) = %v, want %v", tc.i, got, tc.want)
		}
	}
	if s.total() != math.MaxInt64 || s.stageOf(123456) != 0 || s.isRamp() {
		t.Fatalf("constant: total %d, stage %d, ramp %v", s.total(), s.stageOf(123456), s.isRamp())
	}
	if u := constant(0); u.paced() || u.due(99) != 0 || u.dueBy(time.Hour) != 0 {
		t.Fatal("unpaced schedule has due times")
	}
}

// dueBy counts exactly the events due before t, for constant rates and ramps.
func TestScheduleDueBy(t *testing.T) {
	for _, s := range []schedule{constant(3), constant(1000), ramp(300, 200, 700*time.Millisecond, 1500)} {
		for _, at := range []time.Duration{1, time.Millisecond, 333 * time.Millisecond, 700 * time.Millisecond,
			1234567 * time.Microsecond, 2 * time.Second, 3500 * time.Millisecond} {
			var want int64
			for i := int64(0); i < min(s.total(), 10_000) && s.due(i) < at; i++ {
				want++
			}
			if got := s.dueBy(at); got != want {
				t.Errorf("%+v: dueBy(%v) = %d, want %d", s, at, got, want)
			}
		}
	}
}

func TestScheduleRamp(t *testing.T) {
	s := ramp(1000, 500, 2*time.Second, 2500) // 1000, 1500, 2000, 2500 events/s
	if s.stages() != 4 {
		t.Fatalf("stages = %d, want 4", s.stages())
	}
	wantFirst := []int64{0, 2000, 5000, 9000, 14000}
	for k, w := range wantFirst {
		if got := s.first(k); got != w {
			t.Errorf("first(%d) = %d, want %d", k, got, w)
		}
	}
	if s.total() != 14000 {
		t.Fatalf("total = %d, want 14000", s.total())
	}
	prev := time.Duration(-1)
	for i := range s.total() {
		k, d := s.stageOf(i), s.due(i)
		if i >= s.first(k+1) || i < s.first(k) {
			t.Fatalf("stageOf(%d) = %d, outside [%d, %d)", i, k, s.first(k), s.first(k+1))
		}
		if d <= prev || s.stageAt(d) != k {
			t.Fatalf("due(%d) = %v after %v, in stage %d; want increasing, in stage %d", i, d, prev, s.stageAt(d), k)
		}
		prev = d
	}
	// Each stage spaces its events at its own rate.
	if gap := s.due(9001) - s.due(9000); gap != time.Second/2500 {
		t.Fatalf("gap in the 2500/s stage = %v, want %v", gap, time.Second/2500)
	}
	if open := ramp(100, 100, time.Second, 0); open.stages() != math.MaxInt || open.total() != math.MaxInt64 || open.stageOf(1_000_000) != 140 {
		t.Fatalf("unbounded ramp: stages %d, total %d, stageOf(1e6) %d", open.stages(), open.total(), open.stageOf(1_000_000))
	}
}
