package scoring

import (
	"encoding"
	"encoding/binary"
	"fmt"
	"math"
)

// stateVersion is the leading byte of the State encoding. A new layout gets
// a new version; UnmarshalBinary keeps reading the old ones.
const stateVersion byte = 1

// Bounds checked by UnmarshalBinary (no valid state exceeds them).
const (
	maxDayBuckets    = maxWindowDays + 1
	maxCoupons       = 1024
	maxMinuteBuckets = 1441
)

var (
	_ encoding.BinaryAppender    = (*State)(nil)
	_ encoding.BinaryUnmarshaler = (*State)(nil)
)

// AppendBinary appends the versioned encoding of s to b. The encoding is
// canonical: equal states give equal bytes. It never fails (the error is for
// encoding.BinaryAppender).
//
// Layout v1 (varint = zig-zag, uvarint = unsigned LEB128):
//
//	version byte, flags byte, events uvarint, evalAt varint,
//	[firstSeen varint, lastSeen varint]  if flags&seen,
//	[lastPurchase varint]                if flags&purchased,
//	reactivatedUntil varint, activity float64 (8 bytes LE), activityAt varint,
//	3 × tier byte, 3 × seq uvarint,
//	active days:  n uvarint, first day varint, n−1 × gap uvarint (> 0),
//	money:        n uvarint, n × (day: first varint / then gap uvarint > 0,
//	              purchase uvarint, refund uvarint, purchases uvarint),
//	coupons:      n uvarint, first ts varint, n−1 × gap uvarint (≥ 0),
//	minutes:      n uvarint, n × (minute: first varint / then gap uvarint > 0, count uvarint > 0),
//	[places]      under a RuleModel only: placesTag byte, n uvarint (≤ 64),
//	              n × (tier uvarint, previous uvarint (both 0 = none, else index+1),
//	              since varint, seq uvarint),
//	[attributes]  attrsTag byte, n uvarint (1..MaxAttrs), n × (key str, value str), keys ascending,
//	[tags]        tagsTag byte, n uvarint (1..MaxTags), n × tag str, ascending,
//	[counters]    countersTag byte, n uvarint (1..MaxCounters), n × (name str, value float64 LE), names ascending;
//
// str is uvarint length + bytes. The optional sections appear only when not
// empty, so a state without them encodes as it always did.
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, stateVersion, s.flags)
	b = binary.AppendUvarint(b, s.events)
	b = binary.AppendVarint(b, s.evalAt)
	if s.flags&flagSeen != 0 {
		b = binary.AppendVarint(b, s.firstSeen)
		b = binary.AppendVarint(b, s.lastSeen)
	}
	if s.flags&flagPurchased != 0 {
		b = binary.AppendVarint(b, s.lastPurchase)
	}
	b = binary.AppendVarint(b, s.reactivatedUntil)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.activity))
	b = binary.AppendVarint(b, s.activityAt)
	b = append(b, s.tier[:]...)
	for _, q := range s.seq {
		b = binary.AppendUvarint(b, q)
	}
	b = binary.AppendUvarint(b, uint64(len(s.activeDays)))
	for i, d := range s.activeDays {
		b = appendSorted(b, i, d, s.activeDays)
	}
	b = binary.AppendUvarint(b, uint64(len(s.money)))
	for i := range s.money {
		mb := &s.money[i]
		if i == 0 {
			b = binary.AppendVarint(b, mb.day)
		} else {
			b = binary.AppendUvarint(b, uint64(mb.day-s.money[i-1].day))
		}
		b = binary.AppendUvarint(b, uint64(mb.purchase))
		b = binary.AppendUvarint(b, uint64(mb.refund))
		b = binary.AppendUvarint(b, uint64(mb.purchases))
	}
	b = binary.AppendUvarint(b, uint64(len(s.coupons)))
	for i, ts := range s.coupons {
		b = appendSorted(b, i, ts, s.coupons)
	}
	b = binary.AppendUvarint(b, uint64(len(s.minutes)))
	for i := range s.minutes {
		mb := &s.minutes[i]
		if i == 0 {
			b = binary.AppendVarint(b, mb.minute)
		} else {
			b = binary.AppendUvarint(b, uint64(mb.minute-s.minutes[i-1].minute))
		}
		b = binary.AppendUvarint(b, uint64(mb.count))
	}
	if len(s.places) > 0 {
		b = append(b, placesTag)
		b = binary.AppendUvarint(b, uint64(len(s.places)))
		for _, p := range s.places {
			b = binary.AppendUvarint(b, uint64(p.tier+1))
			b = binary.AppendUvarint(b, uint64(p.previous+1))
			b = binary.AppendVarint(b, p.since)
			b = binary.AppendUvarint(b, p.seq)
		}
	}
	if len(s.attrs) > 0 {
		b = append(b, attrsTag)
		b = binary.AppendUvarint(b, uint64(len(s.attrs)))
		for _, a := range s.attrs {
			b = appendStr(b, a.key)
			b = appendStr(b, a.value)
		}
	}
	if len(s.tags) > 0 {
		b = append(b, tagsTag)
		b = binary.AppendUvarint(b, uint64(len(s.tags)))
		for _, t := range s.tags {
			b = appendStr(b, t)
		}
	}
	if len(s.counters) > 0 {
		b = append(b, countersTag)
		b = binary.AppendUvarint(b, uint64(len(s.counters)))
		for _, c := range s.counters {
			b = appendStr(b, c.name)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.value))
		}
	}
	return b, nil
}

// Tags of the optional attributes and tags sections.
const (
	attrsTag    byte = 'A'
	tagsTag     byte = 'T'
	countersTag byte = 'C'
)

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// str reads a uvarint-prefixed string of at most limit bytes.
func (r *stateReader) str(what string, limit int) string {
	n := r.uvarint(what)
	if r.err != nil {
		return ""
	}
	if n > uint64(limit) || n > uint64(len(r.b)) {
		r.fail("%s: length %d", what, n)
		return ""
	}
	v := string(r.b[:n])
	r.b = r.b[n:]
	return v
}

// placesTag starts the placements section of a RuleModel state.
const placesTag byte = 'P'

// maxRuleTiers bounds a tier index in a decoded placement.
const maxRuleTiers = 1 << 16

func appendSorted(b []byte, i int, v int64, xs []int64) []byte {
	if i == 0 {
		return binary.AppendVarint(b, v)
	}
	return binary.AppendUvarint(b, uint64(v-xs[i-1]))
}

// stateReader decodes with sticky errors.
type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrCorruptState}, args...)...)
	}
}

func (r *stateReader) byte1(what string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("truncated at %s", what)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *stateReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad or truncated uvarint at %s", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad or truncated varint at %s", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// dayAmount reads a day bucket sum (0..maxDayAmount).
func (r *stateReader) dayAmount(what string) int64 {
	v := r.uvarint(what)
	if v > uint64(maxDayAmount) {
		r.fail("%s = %d out of range", what, v)
		return 0
	}
	return int64(v)
}

// count reads a length, bounded by limit and by the bytes left (each
// element takes at least one byte).
func (r *stateReader) count(what string, limit int) int {
	v := r.uvarint(what)
	if r.err == nil && (v > uint64(limit) || v > uint64(len(r.b))) {
		r.fail("%s count %d out of range", what, v)
		return 0
	}
	return int(v)
}

// next reads the i-th element of a strictly (or, with allowEqual, weakly)
// increasing sequence encoded as first value then gaps.
func (r *stateReader) next(what string, i int, prev int64, allowEqual bool) int64 {
	if i == 0 {
		return r.varint(what)
	}
	gap := r.uvarint(what)
	if r.err != nil {
		return 0
	}
	if gap == 0 && !allowEqual || gap > math.MaxInt64 || prev > math.MaxInt64-int64(gap) {
		r.fail("%s: bad gap %d", what, gap)
		return 0
	}
	return prev + int64(gap)
}

// UnmarshalBinary replaces s with the state encoded in b (as produced by
// AppendBinary). It rejects an unknown version, truncated, corrupt or
// trailing input with an error wrapping ErrCorruptState, leaving s reset; it
// never panics. s's buffers are reused.
func (s *State) UnmarshalBinary(b []byte) error {
	s.Reset()
	r := stateReader{b: b}
	if v := r.byte1("version"); r.err == nil && v != stateVersion {
		r.fail("unknown version %d", v)
	}
	s.flags = r.byte1("flags")
	if s.flags&^flagMask != 0 {
		r.fail("unknown flags %#x", s.flags)
	}
	s.events = r.uvarint("events")
	s.evalAt = r.varint("evalAt")
	if s.flags&flagSeen != 0 {
		s.firstSeen = r.varint("firstSeen")
		s.lastSeen = r.varint("lastSeen")
		if r.err == nil && s.firstSeen > s.lastSeen {
			r.fail("firstSeen %d > lastSeen %d", s.firstSeen, s.lastSeen)
		}
	}
	if s.flags&flagPurchased != 0 {
		s.lastPurchase = r.varint("lastPurchase")
	}
	s.reactivatedUntil = r.varint("reactivatedUntil")
	if r.err == nil {
		if len(r.b) < 8 {
			r.fail("truncated at activity")
		} else {
			s.activity = math.Float64frombits(binary.LittleEndian.Uint64(r.b))
			r.b = r.b[8:]
			if math.IsNaN(s.activity) || math.IsInf(s.activity, 0) || s.activity < 0 {
				r.fail("activity %v", s.activity)
			}
		}
	}
	s.activityAt = r.varint("activityAt")
	for d := range numDims {
		s.tier[d] = r.byte1("tier")
		if s.tier[d] > numTiers[d] {
			r.fail("tier %d of dimension %d out of range", s.tier[d], d)
		}
	}
	for d := range numDims {
		s.seq[d] = r.uvarint("seq")
	}

	n := r.count("active days", maxDayBuckets)
	for i := 0; i < n && r.err == nil; i++ {
		var prev int64
		if i > 0 {
			prev = s.activeDays[i-1]
		}
		s.activeDays = append(s.activeDays, r.next("active day", i, prev, false))
	}
	n = r.count("money buckets", maxDayBuckets)
	for i := 0; i < n && r.err == nil; i++ {
		var mb moneyBucket
		var prev int64
		if i > 0 {
			prev = s.money[i-1].day
		}
		mb.day = r.next("money day", i, prev, false)
		mb.purchase = r.dayAmount("purchase")
		mb.refund = r.dayAmount("refund")
		c := r.uvarint("purchases")
		if c > math.MaxUint32 {
			r.fail("purchases %d out of range", c)
		}
		mb.purchases = uint32(c)
		s.money = append(s.money, mb)
		s.net += mb.purchase - mb.refund
	}
	n = r.count("coupons", maxCoupons)
	for i := 0; i < n && r.err == nil; i++ {
		var prev int64
		if i > 0 {
			prev = s.coupons[i-1]
		}
		s.coupons = append(s.coupons, r.next("coupon", i, prev, true))
	}
	n = r.count("minutes", maxMinuteBuckets)
	for i := 0; i < n && r.err == nil; i++ {
		var mb minuteBucket
		var prev int64
		if i > 0 {
			prev = s.minutes[i-1].minute
		}
		mb.minute = r.next("minute", i, prev, false)
		c := r.uvarint("minute count")
		if r.err == nil && (c == 0 || c > math.MaxUint32) {
			r.fail("minute count %d out of range", c)
		}
		mb.count = uint32(c)
		s.minutes = append(s.minutes, mb)
	}
	if r.err == nil && len(r.b) != 0 && r.b[0] == placesTag {
		r.b = r.b[1:]
		n := r.count("places", maxRuleDims)
		if r.err == nil && n == 0 {
			r.fail("empty places section")
		}
		for i := 0; i < n && r.err == nil; i++ {
			tier, prev := r.uvarint("place tier"), r.uvarint("place previous")
			if r.err == nil && (tier > maxRuleTiers || prev > maxRuleTiers) {
				r.fail("place %d: tier %d, previous %d out of range", i, tier, prev)
			}
			p := placeState{tier: int(tier) - 1, previous: int(prev) - 1, since: r.varint("place since"), seq: r.uvarint("place seq")}
			if r.err == nil && (p.since < 0 || p.since > MaxTime) {
				r.fail("place %d: since %d outside [0, %d]", i, p.since, MaxTime)
			}
			s.places = append(s.places, p)
		}
	}
	if r.err == nil && len(r.b) != 0 && r.b[0] == attrsTag {
		r.b = r.b[1:]
		n := r.count("attributes", MaxAttrs)
		if r.err == nil && n == 0 {
			r.fail("empty attributes section")
		}
		for i := 0; i < n && r.err == nil; i++ {
			a := attr{key: r.str("attribute name", MaxAttrKey), value: r.str("attribute value", MaxAttrValue)}
			if r.err == nil && (!validIdent(a.key, MaxAttrKey, "_") || i > 0 && s.attrs[i-1].key >= a.key) {
				r.fail("attribute %d: name %q", i, a.key)
			}
			s.attrs = append(s.attrs, a)
		}
	}
	if r.err == nil && len(r.b) != 0 && r.b[0] == tagsTag {
		r.b = r.b[1:]
		n := r.count("tags", MaxTags)
		if r.err == nil && n == 0 {
			r.fail("empty tags section")
		}
		for i := 0; i < n && r.err == nil; i++ {
			t := r.str("tag", MaxTag)
			if r.err == nil && (!validIdent(t, MaxTag, "_:.-") || i > 0 && s.tags[i-1] >= t) {
				r.fail("tag %d: %q", i, t)
			}
			s.tags = append(s.tags, t)
		}
	}
	if r.err == nil && len(r.b) != 0 && r.b[0] == countersTag {
		r.b = r.b[1:]
		n := r.count("counters", MaxCounters)
		if r.err == nil && n == 0 {
			r.fail("empty counters section")
		}
		for i := 0; i < n && r.err == nil; i++ {
			c := counter{name: r.str("counter name", maxCounterName)}
			if r.err == nil && len(r.b) < 8 {
				r.fail("counter %d: truncated", i)
			}
			if r.err != nil {
				break
			}
			c.value = math.Float64frombits(binary.LittleEndian.Uint64(r.b))
			r.b = r.b[8:]
			if !validIdent(c.name, maxCounterName, "_") || i > 0 && s.counters[i-1].name >= c.name ||
				math.IsNaN(c.value) || math.IsInf(c.value, 0) {
				r.fail("counter %d: %q = %v", i, c.name, c.value)
			}
			s.counters = append(s.counters, c)
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err == nil {
		s.checkTimes(&r)
	}
	if r.err != nil {
		s.Reset()
		return r.err
	}
	return nil
}

// checkTimes rejects instants outside [0, MaxTime] (days and minutes scaled
// alike). Deadlines add windows to them and assume neither overflow nor
// wrap-around: a corrupt state must fail here, not stall NextDue.
func (s *State) checkTimes(r *stateReader) {
	in := func(what string, v, unit int64) {
		if r.err == nil && (v < 0 || v > MaxTime/unit) {
			r.fail("%s %d outside [0, %d]", what, v, MaxTime/unit)
		}
	}
	in("evalAt", s.evalAt, 1)
	in("firstSeen", s.firstSeen, 1)
	in("lastSeen", s.lastSeen, 1)
	in("lastPurchase", s.lastPurchase, 1)
	in("reactivatedUntil", s.reactivatedUntil, 1)
	in("activityAt", s.activityAt, 1)
	// The lists are strictly increasing (checked while decoding): their ends suffice.
	if n := len(s.activeDays); n > 0 {
		in("first active day", s.activeDays[0], Day)
		in("last active day", s.activeDays[n-1], Day)
	}
	if n := len(s.money); n > 0 {
		in("first money day", s.money[0].day, Day)
		in("last money day", s.money[n-1].day, Day)
	}
	if n := len(s.coupons); n > 0 {
		in("first coupon", s.coupons[0], 1)
		in("last coupon", s.coupons[n-1], 1)
	}
	if n := len(s.minutes); n > 0 {
		in("first minute", s.minutes[0].minute, minute)
		in("last minute", s.minutes[n-1].minute, minute)
	}
}
