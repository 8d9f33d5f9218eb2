package scoring

import (
	"slices"
	"unsafe"
)

// Dimension indexes of the default model, in Dimensions() order.
const (
	dimLifecycle = iota
	dimValue
	dimRisk
	numDims
)

// Tier numbers per dimension (0 = not placed yet; else 1 + index into the
// dimension's Tiers).
const (
	tierNone uint8 = 0

	lifeNew         uint8 = 1
	lifeActive      uint8 = 2
	lifeSilent      uint8 = 3
	lifeChurned     uint8 = 4
	lifeReactivated uint8 = 5

	valueNone          uint8 = 1
	valueLongTail      uint8 = 2
	valueHighPotential uint8 = 3
	valueWhale         uint8 = 4

	riskNormal uint8 = 1
	riskWatch  uint8 = 2
	riskHigh   uint8 = 3
)

// numTiers is the number of tiers per dimension (for codec validation).
var numTiers = [numDims]uint8{5, 4, 3}

// State flags.
const (
	flagSeen      uint8 = 1 << iota // a weight>0 event was applied: first/last seen are set
	flagPurchased                   // a purchase was applied: lastPurchase is set
	flagMask      = flagSeen | flagPurchased
)

// maxDayAmount caps a day bucket's purchase and refund sums (milli-units,
// ≈ 1.1e12 currency units): with at most maxDayBuckets buckets no sum over
// buckets can overflow an int64, so window sums are exact and can be kept
// by subtraction.
const maxDayAmount int64 = 1 << 50

// moneyBucket aggregates the purchases and refunds of one UTC day, in
// milli-units (each capped at maxDayAmount).
type moneyBucket struct {
	day       int64
	purchase  int64
	refund    int64
	purchases uint32 // number of purchase events
}

// minuteBucket counts the events of one UTC minute.
type minuteBucket struct {
	minute int64 // floor(ts / 60 000)
	count  uint32
}

// State is one user's scoring state under one Model. It holds no event list:
// only incremental aggregates, day buckets (sorted by day, pruned outside the
// longest window), the newest coupon timestamps and per-minute counts of the
// last hour. The zero State is a fresh user. A State is not safe for
// concurrent use; its owner calls Model methods on it one at a time.
type State struct {
	events           uint64
	evalAt           int64 // last evaluation time; time never moves back behind it
	flags            uint8
	firstSeen        int64
	lastSeen         int64
	lastPurchase     int64
	reactivatedUntil int64
	activity         float64 // activity value at activityAt
	activityAt       int64
	tier             [numDims]uint8
	seq              [numDims]uint64

	activeDays []int64       // distinct UTC days with a weight>0 event, ascending
	money      []moneyBucket // ascending by day
	coupons    []int64       // newest coupon timestamps, ascending
	minutes    []minuteBucket

	// places are the user's placements under a RuleModel, one per
	// dimension; empty under Model (whose tiers are tier and seq).
	places []placeState

	attrs    []attr    // attributes, sorted by key (attrs.go)
	tags     []string  // tags, sorted
	counters []counter // a rule model's counters, sorted by name (counters.go)

	// Caches: pure functions of the fields above (and the Model), not
	// encoded, so they change nothing a replica or a stored state can see.
	//   - net is Σ purchase − refund over money, kept by every change of
	//     money (exact: see maxDayAmount), so that the 365-day sum does not
	//     walk the buckets;
	//   - due caches NextDue; dueOK says whether it is current;
	//   - valueDue caches valueDue; valueDueOK says whether it is current.
	//     It stays valid while money, the value tier and events > 0 do not
	//     change (see Model.valueDueOf).
	//   - attrMap and counterMap are attrs and counters as maps, for rules
	//     (nil: not built).
	attrMap    map[string]string
	counterMap map[string]float64
	net        int64
	due        int64
	valueDue   int64
	dueOK      bool
	valueDueOK bool
}

// Reset clears s for reuse by another user, keeping its buffers' capacity.
func (s *State) Reset() {
	*s = State{
		activeDays: s.activeDays[:0],
		money:      s.money[:0],
		coupons:    s.coupons[:0],
		minutes:    s.minutes[:0],
		places:     s.places[:0],
		attrs:      s.attrs[:0],
		tags:       s.tags[:0],
		counters:   s.counters[:0],
	}
}

// Tier returns the user's tier in dimension dim (an index into
// Model.Dimensions): 0 when the user has no tier there yet, else 1 + the
// index of the tier in Dimension.Tiers. Out-of-range dims return 0.
func (s *State) Tier(dim int) int {
	if len(s.places) > 0 {
		if dim < 0 || dim >= len(s.places) {
			return 0
		}
		return s.places[dim].tier + 1
	}
	if dim < 0 || dim >= numDims {
		return 0
	}
	return int(s.tier[dim])
}

// MemSize estimates the bytes s holds in memory: the struct and the
// capacity of its buckets, attributes, tags, counters and placements (not
// the strings they share). What a resident user costs an actor cache.
func (s *State) MemSize() int {
	n := int(unsafe.Sizeof(*s))
	n += cap(s.activeDays)*8 + cap(s.money)*int(unsafe.Sizeof(moneyBucket{})) + cap(s.coupons)*8 +
		cap(s.minutes)*int(unsafe.Sizeof(minuteBucket{})) + cap(s.places)*int(unsafe.Sizeof(placeState{}))
	n += cap(s.attrs)*int(unsafe.Sizeof(attr{})) + cap(s.tags)*16 + cap(s.counters)*int(unsafe.Sizeof(counter{}))
	for _, a := range s.attrs {
		n += len(a.key) + len(a.value)
	}
	for _, t := range s.tags {
		n += len(t)
	}
	return n
}

// Events returns how many events were applied to s.
func (s *State) Events() uint64 { return s.events }

// FirstSeen returns the smallest ts (Unix ms) of the user's weight>0 events,
// or 0 when there is none.
func (s *State) FirstSeen() int64 {
	if s.flags&flagSeen == 0 {
		return 0
	}
	return s.firstSeen
}

// LastSeen returns the largest ts (Unix ms) of the user's weight>0 events,
// or 0 when there is none.
func (s *State) LastSeen() int64 {
	if s.flags&flagSeen == 0 {
		return 0
	}
	return s.lastSeen
}

// floorDiv is floor(a/b) for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

const minute int64 = 60_000

// addDay adds a non-negative amount to a day sum, capped at maxDayAmount.
func addDay(sum, amount int64) int64 {
	return min(sum+min(amount, maxDayAmount), maxDayAmount)
}

// addActiveDay records day as active (kept sorted, unique).
func (s *State) addActiveDay(day int64) {
	n := len(s.activeDays)
	if n == 0 || s.activeDays[n-1] < day {
		s.activeDays = append(s.activeDays, day)
		return
	}
	if i, found := slices.BinarySearch(s.activeDays, day); !found {
		s.activeDays = slices.Insert(s.activeDays, i, day)
	}
}

// moneyAt returns the bucket of day, inserting an empty one if needed.
func (s *State) moneyAt(day int64) *moneyBucket {
	n := len(s.money)
	if n == 0 || s.money[n-1].day < day {
		s.money = append(s.money, moneyBucket{day: day})
		return &s.money[n]
	}
	if s.money[n-1].day == day {
		return &s.money[n-1]
	}
	i, found := slices.BinarySearchFunc(s.money, day, func(b moneyBucket, d int64) int { return cmpInt(b.day, d) })
	if !found {
		s.money = slices.Insert(s.money, i, moneyBucket{day: day})
	}
	return &s.money[i]
}

// addCoupon records a coupon timestamp, keeping only the newest keep ones.
func (s *State) addCoupon(ts int64, keep int) {
	n := len(s.coupons)
	if n >= keep {
		if ts <= s.coupons[0] {
			return // older than every kept one
		}
		copy(s.coupons, s.coupons[1:])
		s.coupons = s.coupons[:n-1]
		n--
	}
	if n == 0 || s.coupons[n-1] <= ts {
		s.coupons = append(s.coupons, ts)
		return
	}
	i, _ := slices.BinarySearch(s.coupons, ts)
	s.coupons = slices.Insert(s.coupons, i, ts)
}

// addMinute counts one event in minute m.
func (s *State) addMinute(m int64) {
	n := len(s.minutes)
	if n > 0 && s.minutes[n-1].minute == m {
		s.minutes[n-1].count++
		return
	}
	if n == 0 || s.minutes[n-1].minute < m {
		s.minutes = append(s.minutes, minuteBucket{minute: m, count: 1})
		return
	}
	i, found := slices.BinarySearchFunc(s.minutes, m, func(b minuteBucket, x int64) int { return cmpInt(b.minute, x) })
	if found {
		s.minutes[i].count++
		return
	}
	s.minutes = slices.Insert(s.minutes, i, minuteBucket{minute: m, count: 1})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// prune drops what can no longer count at any time ≥ t: active days,
// money buckets, coupons and minutes outside their longest window.
func (s *State) prune(m *Model, t int64) {
	today := floorDiv(t, Day)
	s.activeDays = dropWhile(s.activeDays, func(d int64) bool { return d <= today-m.activeLong })
	s.pruneMoney(today - m.moneyKeep)
	s.coupons = dropWhile(s.coupons, func(ts int64) bool { return ts <= t-m.couponWindow })
	cur := floorDiv(t, minute)
	s.minutes = dropWhile(s.minutes, func(b minuteBucket) bool { return b.minute <= cur-m.burstMinutes })
}

// pruneMoney drops the money buckets of days ≤ last, keeping net.
func (s *State) pruneMoney(last int64) {
	i := 0
	for i < len(s.money) && s.money[i].day <= last {
		s.net -= s.money[i].purchase - s.money[i].refund
		i++
	}
	if i > 0 {
		s.money = s.money[:copy(s.money, s.money[i:])]
	}
}

// dropWhile removes the leading elements of a sorted slice for which old
// holds, shifting the rest down so that the capacity is kept.
func dropWhile[T any](xs []T, old func(T) bool) []T {
	i := 0
	for i < len(xs) && old(xs[i]) {
		i++
	}
	if i == 0 {
		return xs
	}
	n := copy(xs, xs[i:])
	return xs[:n]
}
