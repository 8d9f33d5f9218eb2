package cluster

import (
	"bytes"
	"math"
	"testing"
)

func TestRFMSketchEdges(t *testing.T) {
	k := newRFMSketch()
	// 1000 buyers: last purchase on days 20000..20999, frequency 1..100,
	// monetary 10, 20, …, 10 000.
	for i := range 1000 {
		k.add(float64(20000+i), float64(1+i%100), float64(10*(i+1)), 1)
	}
	e := k.edges()
	if e.Buyers != 1000 {
		t.Fatalf("buyers %d", e.Buyers)
	}
	for i, q := range []float64{0.2, 0.4, 0.6, 0.8} {
		if want := 20000 + q*999; math.Abs(e.Recency[i]-want) > 1 {
			t.Errorf("recency edge %d: %v, want about %v (exact by day)", i, e.Recency[i], want)
		}
		if want := q * 100; math.Abs(e.Frequency[i]-want) > 0.02*want+1 {
			t.Errorf("frequency edge %d: %v, want about %v", i, e.Frequency[i], want)
		}
		if want := q * 10000; math.Abs(e.Monetary[i]-want) > 0.02*want {
			t.Errorf("monetary edge %d: %v, want about %v", i, e.Monetary[i], want)
		}
	}
	// Moves in and out leave the sketch exactly as built directly.
	before := appendRFMSketch(nil, k)
	k.move(rfmValues{20000, 1, 10, true}, rfmValues{21000, 7, 500, true})
	k.move(rfmValues{21000, 7, 500, true}, rfmValues{20000, 1, 10, true})
	k.move(rfmValues{}, rfmValues{20500, 3, 0, true})
	k.move(rfmValues{20500, 3, 0, true}, rfmValues{})
	if after := appendRFMSketch(nil, k); !bytes.Equal(before, after) {
		t.Error("moving a buyer out and back changed the sketch's encoding")
	}
	back, err := decodeRFMSketch(before)
	if err != nil {
		t.Fatal(err)
	}
	if back.edges() != e {
		t.Errorf("decoded edges %+v, want %+v", back.edges(), e)
	}
	other := newRFMSketch()
	other.add(20500, 50, 5000, 1)
	back.merge(other)
	if back.buyers != 1001 {
		t.Errorf("merged buyers %d", back.buyers)
	}
	for _, bad := range [][]byte{nil, {1}, append(before, 0), {1, 0xff, 0xff, 0xff, 0xff, 0x0f}} {
		if _, err := decodeRFMSketch(bad); err == nil {
			t.Errorf("decoded %x", bad)
		}
	}
	if empty := newRFMSketch().edges(); empty.Buyers != 0 {
		t.Errorf("edges of no buyers: %+v", empty)
	}
}
