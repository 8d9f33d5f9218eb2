package scoring

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestDecodeAttributeAndTagEvents(t *testing.T) {
	now := int64(1_790_000_000_000)
	ev := func(typ, props string) []byte {
		s := fmt.Sprintf(`{"id":"e1","user":"u1","type":%q,"ts":%d`, typ, now)
		if props != "" {
			s += `,"props":` + props
		}
		return []byte(s + "}")
	}
	long := strings.Repeat("x", MaxAttrValue+1)
	var many []string
	for i := range maxEventChanges + 1 {
		many = append(many, fmt.Sprintf(`"k%d":"v"`, i))
	}
	for _, tc := range []struct {
		typ, props string
		reason     string // "" accepted
	}{
		{TypeProfile, `{"region":"eu","age_band":"25-34","score":3.5,"vip":true,"old":null}`, ""},
		{TypeProfile, "", ""},
		{TypeProfile, `{}`, ""},
		{TypeProfile, `{"Region":"eu"}`, ReasonBadAttributes},
		{TypeProfile, `{"region":{"city":"x"}}`, ReasonBadAttributes},
		{TypeProfile, `{"region":["eu"]}`, ReasonBadAttributes},
		{TypeProfile, `{"region":"` + long + `"}`, ReasonBadAttributes},
		{TypeProfile, `{` + strings.Join(many, ",") + `}`, ReasonBadAttributes},
		{TypeProfile, `{"` + strings.Repeat("k", MaxAttrKey+1) + `":"v"}`, ReasonBadAttributes},
		{TypeTagAdd, `{"tags":["vip","beta:2026"]}`, ""},
		{TypeTagRemove, `{"tags":["vip"]}`, ""},
		{TypeTagAdd, "", ReasonBadTags},
		{TypeTagAdd, `{"tags":[]}`, ReasonBadTags},
		{TypeTagAdd, `{"tags":["VIP"]}`, ReasonBadTags},
		{TypeTagAdd, `{"tags":"vip"}`, ReasonBadTags},
		{TypeTagAdd, `{"tags":["vip"],"other":1}`, ReasonBadTags},
		{TypeProfileErase, "", ""},
	} {
		_, err := Decode(ev(tc.typ, tc.props), "u1", now, DefaultLimits())
		var ie *InvalidEventError
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("%s %s: %v", tc.typ, tc.props, err)
		case tc.reason != "" && (!errors.As(err, &ie) || ie.Reason != tc.reason):
			t.Errorf("%s %.60s: err %v, want reason %s", tc.typ, tc.props, err, tc.reason)
		}
	}
}

func TestAttributesAndTagsFold(t *testing.T) {
	m, err := NewModel(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	var s State
	now := int64(1_790_000_000_000)
	apply := func(id, typ, props string) {
		t.Helper()
		e := Event{ID: id, User: "u", Type: typ, TS: now, Props: []byte(props)}
		if props == "" {
			e.Props = nil
		}
		m.Apply(&s, &e, now, nil)
		now += 1000
		// Every state survives its encoding.
		b, _ := s.AppendBinary(nil)
		var back State
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatalf("after %s: %v", id, err)
		}
		if !maps.Equal(back.Attributes(), s.Attributes()) || !slices.Equal(back.Tags(), s.Tags()) {
			t.Fatalf("after %s: decoded %v %v, want %v %v", id, back.Attributes(), back.Tags(), s.Attributes(), s.Tags())
		}
		b2, _ := back.AppendBinary(nil)
		if string(b2) != string(b) {
			t.Fatalf("after %s: encoding not canonical", id)
		}
	}
	apply("e1", TypeProfile, `{"region":"eu","age_band":"25-34","score":3.50}`)
	apply("e2", TypeTagAdd, `{"tags":["vip","beta"]}`)
	if got := s.Attributes(); !maps.Equal(got, map[string]string{"region": "eu", "age_band": "25-34", "score": "3.50"}) {
		t.Errorf("attributes %v", got)
	}
	if got := s.Tags(); !slices.Equal(got, []string{"beta", "vip"}) {
		t.Errorf("tags %v", got)
	}
	apply("e3", TypeProfile, `{"region":"apac","age_band":null}`)
	apply("e4", TypeTagRemove, `{"tags":["beta","never"]}`)
	if got := s.Attributes(); !maps.Equal(got, map[string]string{"region": "apac", "score": "3.50"}) {
		t.Errorf("after changes: attributes %v", got)
	}
	if got := s.Tags(); !slices.Equal(got, []string{"vip"}) {
		t.Errorf("after removal: tags %v", got)
	}
	if s.Tier(0) != 0 || s.FirstSeen() != 0 {
		t.Errorf("attribute events count as activity: lifecycle tier %d, first seen %d", s.Tier(0), s.FirstSeen())
	}
	// Caps: new names beyond the limit are ignored, existing ones still change.
	for i := 0; i < MaxAttrs+5; i += 10 {
		var kv []string
		for j := i; j < i+10; j++ {
			kv = append(kv, fmt.Sprintf(`"a%03d":"%d"`, j, j))
		}
		apply(fmt.Sprintf("cap%d", i), TypeProfile, "{"+strings.Join(kv, ",")+"}")
	}
	if n := len(s.Attributes()); n != MaxAttrs {
		t.Errorf("%d attributes, want the cap %d", n, MaxAttrs)
	}
	apply("e5", TypeProfile, `{"region":"us"}`)
	if s.Attributes()["region"] != "us" {
		t.Errorf("an existing attribute did not change at the cap")
	}
	apply("e6", TypeProfileErase, "")
	if s.Attributes() != nil || s.Tags() != nil {
		t.Errorf("after erase: %v %v", s.Attributes(), s.Tags())
	}
}

func TestStateCodecRejectsBadAttributes(t *testing.T) {
	var s State
	s.attrs = []attr{{"b", "1"}, {"a", "2"}} // out of order
	b, _ := s.AppendBinary(nil)
	if err := new(State).UnmarshalBinary(b); err == nil {
		t.Error("unsorted attributes decoded")
	}
	s.attrs = []attr{{"A", "1"}}
	b, _ = s.AppendBinary(nil)
	if err := new(State).UnmarshalBinary(b); err == nil {
		t.Error("a bad attribute name decoded")
	}
	s.attrs, s.tags = nil, []string{"vip", "vip"}
	b, _ = s.AppendBinary(nil)
	if err := new(State).UnmarshalBinary(b); err == nil {
		t.Error("a repeated tag decoded")
	}
}
