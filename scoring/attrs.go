package scoring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// User attributes and tags. A profile event's props set attributes (a
// string, number or boolean value sets one, null deletes it); tag_add and
// tag_remove events carry {"tags": [...]}; profile_erase deletes every
// attribute and tag of the user. Rules read them as attrs (map of string to
// string) and tags (list of string). Decode checks the props of these events
// (bad_attributes, bad_tags), so apply never meets a malformed one.

// Event types that change attributes and tags (weight 0: not activity).
const (
	TypeTagAdd       = "tag_add"
	TypeTagRemove    = "tag_remove"
	TypeProfileErase = "profile_erase"
)

// Limits of attributes and tags.
const (
	MaxAttrKey      = 64  // bytes of an attribute name, [a-z0-9_]
	MaxAttrValue    = 256 // bytes of an attribute value
	MaxAttrs        = 64  // attributes per user: a new name beyond it is ignored
	MaxTag          = 64  // bytes of a tag, [a-z0-9_:.-]
	MaxTags         = 64  // tags per user: a new tag beyond it is ignored
	maxEventChanges = 64  // attributes (or tags) one event may change
)

// Dead-letter reasons of attribute and tag events.
const (
	ReasonBadAttributes = "bad_attributes" // a profile event's props are not flat name → string/number/bool/null
	ReasonBadTags       = "bad_tags"       // a tag event's props are not {"tags": [tag, …]}
)

// attr is one user attribute.
type attr struct{ key, value string }

// attrChange sets key to value, or deletes it.
type attrChange struct {
	key, value string
	del        bool
}

// parseProfile reads a profile event's props: a flat object of attribute
// names to strings, numbers, booleans (kept as their JSON text) or null.
func parseProfile(props []byte) ([]attrChange, error) {
	if len(props) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(props))
	dec.UseNumber()
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("props: %v", err)
	}
	if len(m) > maxEventChanges {
		return nil, fmt.Errorf("%d attributes in one event, at most %d", len(m), maxEventChanges)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // order does not matter: keys are distinct (Decode rejects duplicates)
	out := make([]attrChange, 0, len(keys))
	for _, k := range keys {
		if !validIdent(k, MaxAttrKey, "_") {
			return nil, fmt.Errorf("attribute name %q: want 1–%d bytes of [a-z0-9_]", k, MaxAttrKey)
		}
		raw := bytes.TrimSpace(m[k])
		var c attrChange
		c.key = k
		switch {
		case bytes.Equal(raw, []byte("null")):
			c.del = true
		case len(raw) > 0 && raw[0] == '"':
			if err := json.Unmarshal(raw, &c.value); err != nil {
				return nil, fmt.Errorf("attribute %s: %v", k, err)
			}
		case bytes.Equal(raw, []byte("true")), bytes.Equal(raw, []byte("false")):
			c.value = string(raw)
		case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
			c.value = string(raw)
		default:
			return nil, fmt.Errorf("attribute %s: want a string, number, boolean or null, got %.40s", k, raw)
		}
		if len(c.value) > MaxAttrValue {
			return nil, fmt.Errorf("attribute %s: value of %d bytes, at most %d", k, len(c.value), MaxAttrValue)
		}
		out = append(out, c)
	}
	return out, nil
}

// parseTags reads a tag event's props: {"tags": ["vip", …]}.
func parseTags(props []byte) ([]string, error) {
	var p struct {
		Tags []string `json:"tags"`
	}
	dec := json.NewDecoder(bytes.NewReader(props))
	dec.DisallowUnknownFields()
	if len(props) == 0 {
		return nil, fmt.Errorf(`props must be {"tags": [...]}`)
	}
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf(`props must be {"tags": [...]}: %v`, err)
	}
	if len(p.Tags) == 0 || len(p.Tags) > maxEventChanges {
		return nil, fmt.Errorf("%d tags in one event, want 1..%d", len(p.Tags), maxEventChanges)
	}
	for _, t := range p.Tags {
		if !validIdent(t, MaxTag, "_:.-") {
			return nil, fmt.Errorf("tag %q: want 1–%d bytes of [a-z0-9_:.-]", t, MaxTag)
		}
	}
	return p.Tags, nil
}

func validIdent(s string, maxLen int, extra string) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// checkProps validates the props of attribute and tag events (Decode).
func checkProps(ev *Event) error {
	switch ev.Type {
	case TypeProfile:
		if _, err := parseProfile(ev.Props); err != nil {
			return invalid(ReasonBadAttributes, err.Error())
		}
	case TypeTagAdd, TypeTagRemove:
		if _, err := parseTags(ev.Props); err != nil {
			return invalid(ReasonBadTags, err.Error())
		}
	}
	return nil
}

// foldAttrs applies an attribute or tag event to s. Props that do not parse
// (a log written by a version with other rules) change nothing, the same on
// every replica.
func (s *State) foldAttrs(e *Event) {
	switch e.Type {
	case TypeProfile:
		changes, err := parseProfile(e.Props)
		if err != nil {
			return
		}
		for _, c := range changes {
			s.setAttr(c)
		}
	case TypeTagAdd, TypeTagRemove:
		tags, err := parseTags(e.Props)
		if err != nil {
			return
		}
		for _, t := range tags {
			i, found := slices.BinarySearch(s.tags, t)
			switch {
			case e.Type == TypeTagRemove && found:
				s.tags = slices.Delete(s.tags, i, i+1)
			case e.Type == TypeTagAdd && !found && len(s.tags) < MaxTags:
				s.tags = slices.Insert(s.tags, i, t)
			}
		}
	case TypeProfileErase:
		s.attrs, s.tags = s.attrs[:0], s.tags[:0]
	default:
		return
	}
	s.attrMap = nil
}

func (s *State) setAttr(c attrChange) {
	i, found := slices.BinarySearchFunc(s.attrs, c.key, func(a attr, k string) int { return strings.Compare(a.key, k) })
	switch {
	case c.del && found:
		s.attrs = slices.Delete(s.attrs, i, i+1)
	case c.del:
	case found:
		s.attrs[i].value = c.value
	case len(s.attrs) < MaxAttrs:
		s.attrs = slices.Insert(s.attrs, i, attr{c.key, c.value})
	}
}

// Attributes returns the user's attributes (a fresh map; nil when none).
func (s *State) Attributes() map[string]string {
	if len(s.attrs) == 0 {
		return nil
	}
	m := make(map[string]string, len(s.attrs))
	for _, a := range s.attrs {
		m[a.key] = a.value
	}
	return m
}

// Tags returns the user's tags, sorted (a copy; nil when none).
func (s *State) Tags() []string {
	if len(s.tags) == 0 {
		return nil
	}
	return slices.Clone(s.tags)
}

// ruleAttrs returns the attributes and tags as rules read them: nil when
// the user has none. The map is cached in s until they change; callers must
// not modify it.
func (s *State) ruleAttrs() (map[string]string, []string) {
	if len(s.attrs) > 0 && s.attrMap == nil {
		s.attrMap = s.Attributes()
	}
	var tags []string
	if len(s.tags) > 0 {
		tags = s.tags
	}
	return s.attrMap, tags
}
