package scoring

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

// sampleState returns a state with every part populated.
func sampleState(t testing.TB) *State {
	m := newModel(t)
	var s State
	for _, st := range randomSteps(rand.New(rand.NewPCG(3, 3)), 60) {
		run(m, &s, st, nil)
	}
	now := s.evalAt
	for i, typ := range []string{"purchase", "refund", "coupon", "coupon", "login"} {
		m.Apply(&s, &Event{ID: string(rune('a' + i)), Type: typ, TS: now - int64(i)*minute, Amount: 1500}, now, nil)
	}
	if len(s.money) == 0 || len(s.coupons) == 0 || len(s.minutes) == 0 || len(s.activeDays) == 0 {
		t.Fatalf("sample state incomplete: %+v", s)
	}
	return &s
}

func TestCodecRoundTrip(t *testing.T) {
	s := sampleState(t)
	b := encode(t, s)
	if b[0] != stateVersion {
		t.Fatalf("version byte %d", b[0])
	}
	var d State
	if err := d.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	d.due, d.dueOK, s.due, s.dueOK = 0, false, 0, false
	d.valueDue, d.valueDueOK, s.valueDue, s.valueDueOK = 0, false, 0, false
	if !reflect.DeepEqual(s, &d) {
		t.Fatalf("round trip differs:\n%+v\n%+v", s, &d)
	}
	// AppendBinary appends.
	prefix := []byte("xyz")
	if b2, _ := s.AppendBinary(prefix); !bytes.Equal(b2[3:], b) || string(b2[:3]) != "xyz" {
		t.Error("AppendBinary does not append")
	}
	var fresh State
	fb := encode(t, &fresh)
	if err := d.UnmarshalBinary(fb); err != nil || d.Events() != 0 || len(d.money) != 0 {
		t.Errorf("fresh round trip: %v %+v", err, d)
	}
}

func TestCodecRejects(t *testing.T) {
	b := encode(t, sampleState(t))
	for i := range len(b) {
		var s State
		if err := s.UnmarshalBinary(b[:i]); !errors.Is(err, ErrCorruptState) {
			t.Fatalf("prefix of %d/%d bytes: err %v", i, len(b), err)
		}
		if s.Events() != 0 {
			t.Fatal("failed decode left data behind")
		}
	}
	bad := func(name string, mutate func([]byte) []byte) {
		t.Helper()
		c := mutate(append([]byte(nil), b...))
		var s State
		if err := s.UnmarshalBinary(c); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	bad("trailing byte", func(c []byte) []byte { return append(c, 0) })
	bad("version 0", func(c []byte) []byte { c[0] = 0; return c })
	bad("version 2", func(c []byte) []byte { c[0] = 2; return c })
	bad("unknown flag", func(c []byte) []byte { c[1] |= 0x80; return c })
	var fresh State
	fb := encode(t, &fresh)
	// fresh layout: version, flags, events, evalAt, reactivatedUntil, activity(8), activityAt, tiers(3)…
	tierAt := 5 + 8 + 1
	for d, n := range numTiers {
		c := append([]byte(nil), fb...)
		c[tierAt+d] = n + 1
		var s State
		if err := s.UnmarshalBinary(c); !errors.Is(err, ErrCorruptState) {
			t.Errorf("tier %d out of range in dimension %d accepted", n+1, d)
		}
	}
	c := append([]byte(nil), fb...)
	copy(c[5:13], []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f}) // NaN activity
	var s State
	if err := s.UnmarshalBinary(c); !errors.Is(err, ErrCorruptState) {
		t.Errorf("NaN activity accepted: %v", err)
	}
}

// FuzzStateCodec: UnmarshalBinary never panics; whatever it accepts
// re-encodes to a fixed point and can be applied to.
func FuzzStateCodec(f *testing.F) {
	m := newModel(f)
	var fresh State
	f.Add(encode(f, &fresh))
	f.Add(encode(f, sampleState(f)))
	for seed := range uint64(8) {
		var s State
		for _, st := range randomSteps(rand.New(rand.NewPCG(seed, 11)), 40) {
			run(m, &s, st, nil)
		}
		f.Add(encode(f, &s))
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s State
		if err := s.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrCorruptState) {
				t.Fatalf("error %v does not wrap ErrCorruptState", err)
			}
			return
		}
		e1 := encode(t, &s)
		var s2 State
		if err := s2.UnmarshalBinary(e1); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if e2 := encode(t, &s2); !bytes.Equal(e1, e2) {
			t.Fatal("encoding is not a fixed point")
		}
		// A decoded state, however odd, can be used without panicking.
		now := s.evalAt
		m.Scores(&s, now)
		m.NextDue(&s)
		m.Apply(&s, &Event{ID: "x", Type: "coupon", TS: now}, now, nil)
		m.Advance(&s, now+Day, nil)
	})
}
