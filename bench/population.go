package bench

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/scoring"
)

// None sets a share, a probability or OrderSigma of PopulationConfig to zero;
// a zero field takes its default instead.
const None = -1.0

// Bounds of PopulationConfig.
const (
	MaxPopulationUsers  = 100_000_000    // 8 B of generator state each
	MaxPopulationEvents = math.MaxUint32 // event indexes are kept in 32 bits
)

// ErrInvalidPopulation is wrapped by every error of PopulationConfig.Validate.
var ErrInvalidPopulation = errors.New("bench: invalid population")

// PopulationConfig shapes the synthetic population of a run. A zero field
// takes the default documented beside it (the value DefaultPopulation sets);
// None sets a share, a probability or OrderSigma to zero.
type PopulationConfig struct {
	// Users is the number of distinct users, named u0 … u<Users−1>;
	// 1..MaxPopulationUsers. Default 100 000.
	Users int
	// Events is how many events the run sends: at least Users (every user
	// gets one) and at most MaxPopulationEvents. Default 10 × Users.
	Events int
	// Seed selects the population: equal configs and equal now give
	// byte-identical events. Zero is a seed like any other; DefaultPopulation
	// uses 1. Event IDs are "s<seed>-e<index>".
	Seed uint64
	// RunID, when set, makes the event IDs "s<seed>-<RunID>-e<index>", so
	// that a run against a running target is not taken for a repeat of an
	// earlier one with the same seed (Strata drops events whose ID it has
	// seen). [a-z0-9]{0,16}. Default empty.
	RunID string
	// Shards is the shard count of the target, 1..4096, for Next's shard.
	// Default 8.
	Shards int
	// Mix weighs the event types of ordinary activity: at most 64 types,
	// names [a-z0-9_-]{1,64}, relative weights ≥ 0. signup and refund are
	// planted by the generator, not drawn. Default (nil or empty): view 45,
	// login 15, interaction 14, task 8, purchase 8, support 5, coupon 3,
	// referral 2.
	Mix map[string]float64
	// Window is how far back timestamps reach: every ts lies in
	// [now − Window, now]; 35..365 days. Default 40 days.
	Window time.Duration
	// ZipfExponent s in (0, 4] and ZipfOffset v in (0, 10⁶] spread ordinary
	// activity over users: the user of activity rank k gets a share
	// ∝ (k + v)^−s. Defaults s = 1 (Zipf's law; the top 1% of users do 35%
	// of the activity at 5 000 users, 54% at 100 000, 68% at 10M) and v = 5
	// (the busiest of 100 000 users does 1.8% of it; 6% with v = 1).
	ZipfExponent, ZipfOffset float64
	// NewShare, QuietShare and ReturningShare are the fractions of users in
	// the lifecycle cohorts, summing below 1; the others are steady (active
	// all along). New users sign up in the last 6 days (signup is their
	// first event); quiet users' last event is 8 to 40 days old; returning
	// users stop at least 31 days before now and come back in the last 6
	// days. Under the default model: new; silent or churned; reactivated.
	// Defaults 0.10, 0.15, 0.05.
	NewShare, QuietShare, ReturningShare float64
	// OrderMedian in (0, 10⁶] and OrderSigma in [0, 3] make order values
	// log-normal: μ = ln(OrderMedian), σ = OrderSigma, in currency units,
	// rounded to cents, clamped to [0.01, 10⁷]. Defaults 25 and 1 (mean ≈ 41,
	// 1 order in 100 above 256).
	OrderMedian, OrderSigma float64
	// WhaleShare of users (at least one when > 0) are whales: steady users
	// whose first event is a purchase and whose orders are WhaleFactor
	// (1..10⁵) times larger. Defaults 0.002 and 2000: the whale median order
	// is 50 000, the default model's whale threshold, and whales' first orders
	// come in antithetic pairs (one above the median, one below), so the
	// value tiers whale and high_potential both show from two whales on.
	WhaleShare, WhaleFactor float64
	// RefundProb is the probability that a purchase is refunded, as the
	// user's next ordinary event: in full, or in part (3 in 10). A refund
	// never exceeds its purchase and names it in props.purchase. Default 0.06.
	RefundProb float64
	// AbuserShare of users (at least one when > 0) are coupon farmers: steady
	// users other than the whales who each fire one burst of coupons, at most
	// 3 s apart, in the last 20 hours before now. Default 0.005. WhaleShare +
	// AbuserShare may be at most half the steady share.
	AbuserShare float64
	// BurstSize is the mean burst, 1..1000; lengths are uniform in
	// BurstSize ± BurstSize/4. Default 12: bursts of 9..15 coupons put the
	// default model's fraud_risk at watch (9 in 24 h) or high (≥ 10).
	BurstSize int
}

// DefaultPopulation returns the defaults documented on PopulationConfig.
func DefaultPopulation() PopulationConfig {
	return PopulationConfig{
		Users: 100_000, Events: 1_000_000, Seed: 1, Shards: 8,
		Mix: map[string]float64{
			scoring.TypeView: 45, scoring.TypeLogin: 15, scoring.TypeInteraction: 14, scoring.TypeTask: 8,
			scoring.TypePurchase: 8, scoring.TypeSupport: 5, scoring.TypeCoupon: 3, scoring.TypeReferral: 2,
		},
		Window:       40 * oneDay,
		ZipfExponent: 1, ZipfOffset: 5,
		NewShare: 0.10, QuietShare: 0.15, ReturningShare: 0.05,
		OrderMedian: 25, OrderSigma: 1,
		WhaleShare: 0.002, WhaleFactor: 2000,
		RefundProb:  0.06,
		AbuserShare: 0.005, BurstSize: 12,
	}
}

// Placement against the default model's thresholds (new and silent at 7
// days, churned at 30), with a day's margin for long runs.
const (
	oneDay        = 24 * time.Hour
	minWindow     = 35 * oneDay
	maxWindow     = 365 * oneDay // far inside Decode's MaxAge (400 days)
	newWithin     = 6 * oneDay   // sign-ups: new (first seen < 7 days ago)
	quietBy       = 8 * oneDay   // quiet users' last event: silent (idle ≥ 7 days) or churned
	goneBy        = 31 * oneDay  // returning users' last event before their gap: churned (≥ 30 days)
	backWithin    = 6 * oneDay   // their return: reactivated
	burstWithin   = 20 * time.Hour
	burstBy       = 10 * time.Minute
	burstGap      = 3 * time.Second
	partialRefund = 0.3
	maxCents      = 1_000_000_000 // 10⁷ units
	pendingRefund = 1 << 31       // genAccount.cents flag: refund on the next ordinary event
	maxZipfTries  = 32            // Zipf draws before falling back to a uniform steady user
)

// resolved returns c with zero fields replaced by defaults and None by 0.
func (c PopulationConfig) resolved() PopulationConfig {
	d := DefaultPopulation()
	for _, f := range []struct{ v, def *int }{{&c.Users, &d.Users}, {&c.Shards, &d.Shards}, {&c.BurstSize, &d.BurstSize}} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	if c.Events == 0 {
		c.Events = 10 * c.Users
	}
	if len(c.Mix) == 0 {
		c.Mix = d.Mix
	}
	if c.Window == 0 {
		c.Window = d.Window
	}
	for _, f := range []struct{ v, def *float64 }{
		{&c.ZipfExponent, &d.ZipfExponent}, {&c.ZipfOffset, &d.ZipfOffset},
		{&c.NewShare, &d.NewShare}, {&c.QuietShare, &d.QuietShare}, {&c.ReturningShare, &d.ReturningShare},
		{&c.OrderMedian, &d.OrderMedian}, {&c.OrderSigma, &d.OrderSigma},
		{&c.WhaleShare, &d.WhaleShare}, {&c.WhaleFactor, &d.WhaleFactor},
		{&c.RefundProb, &d.RefundProb}, {&c.AbuserShare, &d.AbuserShare},
	} {
		switch *f.v {
		case 0:
			*f.v = *f.def
		case None:
			*f.v = 0
		}
	}
	return c
}

// Validate reports every unusable field (zero fields taking their defaults),
// quoting its value. It never changes c.
func (c PopulationConfig) Validate() error {
	r := c.resolved()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidPopulation}, args...)...))
	}
	if r.Users < 1 || r.Users > MaxPopulationUsers {
		bad("Users = %d, want 1..%d", r.Users, MaxPopulationUsers)
	}
	if r.Events < r.Users || r.Events > MaxPopulationEvents {
		bad("Events = %d, want Users (%d)..%d", r.Events, r.Users, MaxPopulationEvents)
	}
	if r.Shards < 1 || r.Shards > 4096 {
		bad("Shards = %d, want 1..4096", r.Shards)
	}
	if r.Window < minWindow || r.Window > maxWindow {
		bad("Window = %v, want %v..%v", r.Window, minWindow, maxWindow)
	}
	if len(r.RunID) > 16 || strings.Trim(r.RunID, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		bad("RunID = %q, want [a-z0-9]{0,16}", r.RunID)
	}
	if r.BurstSize < 1 || r.BurstSize > 1000 {
		bad("BurstSize = %d, want 1..1000", r.BurstSize)
	}
	for _, f := range []struct {
		name, want string // want: the range, "(" when lo is excluded
		v, lo, hi  float64
	}{
		{"ZipfExponent", "(0, 4]", r.ZipfExponent, 0, 4}, {"ZipfOffset", "(0, 1e6]", r.ZipfOffset, 0, 1e6},
		{"OrderMedian", "(0, 1e6]", r.OrderMedian, 0, 1e6}, {"OrderSigma", "[0, 3]", r.OrderSigma, 0, 3},
		{"WhaleFactor", "[1, 1e5]", r.WhaleFactor, 1, 1e5}, {"RefundProb", "[0, 1]", r.RefundProb, 0, 1},
		{"NewShare", "[0, 1]", r.NewShare, 0, 1}, {"QuietShare", "[0, 1]", r.QuietShare, 0, 1},
		{"ReturningShare", "[0, 1]", r.ReturningShare, 0, 1},
		{"WhaleShare", "[0, 1]", r.WhaleShare, 0, 1}, {"AbuserShare", "[0, 1]", r.AbuserShare, 0, 1},
	} {
		if !(f.v >= f.lo && f.v <= f.hi) || f.want[0] == '(' && f.v == f.lo {
			bad("%s = %v, want %s", f.name, f.v, f.want)
		}
	}
	if cohorts := r.NewShare + r.QuietShare + r.ReturningShare; cohorts >= 1 {
		bad("NewShare + QuietShare + ReturningShare = %v, want < 1 (the rest are steady users)", cohorts)
	} else if planted := r.WhaleShare + r.AbuserShare; planted > (1-cohorts)/2 {
		bad("WhaleShare + AbuserShare = %v, want ≤ half the steady share (%v)", planted, (1-cohorts)/2)
	}
	if len(r.Mix) > 64 {
		bad("Mix has %d types, want ≤ 64", len(r.Mix))
	}
	var total float64
	for _, typ := range slices.Sorted(maps.Keys(r.Mix)) {
		switch w := r.Mix[typ]; {
		case !validTypeName(typ):
			bad("Mix type %q, want [a-z0-9_-]{1,%d}", typ, scoring.MaxTypeLen)
		case typ == scoring.TypeSignup || typ == scoring.TypeRefund:
			bad("Mix type %q: planted by the generator (NewShare, RefundProb), not drawn", typ)
		case !(w >= 0) || math.IsInf(w, 1):
			bad("Mix[%q] = %v, want finite ≥ 0", typ, w)
		default:
			total += w
		}
	}
	if !(total > 0) || math.IsInf(total, 1) {
		bad("Mix weights sum to %v, want finite > 0", total)
	}
	return errors.Join(errs...)
}

func validTypeName(s string) bool {
	for i := range len(s) {
		if b := s[i]; !('a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '_' || b == '-') {
			return false
		}
	}
	return len(s) > 0 && len(s) <= scoring.MaxTypeLen
}

// Cohorts counts users per lifecycle cohort.
type Cohorts struct {
	Steady    int `json:"steady"`
	New       int `json:"new"`
	Quiet     int `json:"quiet"`
	Returning int `json:"returning"`
	Returned  int `json:"returned"` // returning users whose return is sent: all unless Events < Users + Returning
}

// Expectation is what a whole run of a Generator sends.
type Expectation struct {
	Events      int              `json:"events"`       // events Next yields
	Users       int              `json:"users"`        // distinct users with at least one event: all of them
	Types       map[string]int64 `json:"types"`        // events per type (a fresh map)
	Cohorts     Cohorts          `json:"cohorts"`      // users per lifecycle cohort
	Whales      int              `json:"whales"`       // users with whale-sized orders
	Abusers     int              `json:"abusers"`      // coupon farmers, one burst each
	BurstEvents int64            `json:"burst_events"` // coupons in the bursts (counted in Types["coupon"] too)
}

// Streams. Each stream's times never decrease; the generator merges them,
// the earliest first (ties in this order: anchors before activity), so the
// run is in time order and so is every user's share of it.
const (
	kSteady   = iota // each steady user's anchor event, over the window
	kGone            // returning users' last event before their gap
	kQuiet           // quiet users' last event
	kNew             // sign-ups
	kBack            // returning users' return
	kActivity        // ordinary activity, Zipf over users
	numStreams
)

// Type indexes; the Mix's other types follow.
const (
	tSignup = iota
	tLogin
	tPurchase
	tRefund
	tCoupon
)

// Generator yields a population's events one at a time, in time order,
// deterministically from the config, the seed and now. Users are numbered by
// cohort (steady, returning, quiet, new: the newest sign-ups have the highest
// numbers); every user gets an anchor event (two for returning users) and
// ordinary activity goes to users drawn by Zipf rank, through a seeded
// affine permutation of the user numbers. A Generator keeps 8 B per user
// (each user's last purchase, for refunds) and O(1) besides. It is not safe
// for concurrent use.
type Generator struct {
	c                PopulationConfig // resolved
	now              int64            // Unix ms
	cohorts          Cohorts
	whales, abusers  int
	wStride, aStride int // whale k is user k·wStride, abuser k about k·aStride + aStride/2
	burstN           int64

	rng      *rand.Rand
	streams  [numStreams]genStream
	burst    genBursts
	accounts []genAccount
	i        int // index of the next event

	types        []string  // by type index
	mixCum       []float64 // cumulative Mix weights, by type name
	mixType      []uint8
	zipf         zipfRanks
	zipfA, zipfB uint64  // activity rank r is user (zipfA·r + zipfB) mod Users
	mu, muWhale  float64 // ln(OrderMedian), ln(OrderMedian·WhaleFactor)

	prefix   string // event ID prefix, "s<seed>-e"
	buf      []byte
	expected *Expectation
}

// genAccount is a user's last purchase: its event index and amount (cents),
// with pendingRefund set when it is to be refunded.
type genAccount struct{ purchase, cents uint32 }

// genEvent is one event before it is formatted.
type genEvent struct {
	user  uint32
	typ   uint8
	ts    int64  // Unix ms
	cents uint32 // purchase and refund amount
	ref   uint32 // refund: the purchase's event index
}

// NewGenerator validates c and prepares a run that ends at now: every ts
// lies in [now − Window, now]. It allocates the 8 B/user state.
func NewGenerator(c PopulationConfig, now time.Time) (*Generator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	r := c.resolved()
	if now.UnixMilli() < r.Window.Milliseconds() {
		return nil, fmt.Errorf("%w: now = %v, want after 1970 + Window (%v)", ErrInvalidPopulation, now, r.Window)
	}
	return buildGenerator(r, now.UnixMilli()), nil
}

// buildGenerator makes the generator of a valid, resolved config.
func buildGenerator(r PopulationConfig, now int64) *Generator {
	g := &Generator{c: r, now: now, prefix: idPrefix(r.Seed, r.RunID)}
	g.rng = rand.New(rand.NewPCG(r.Seed, 0x57a7a))
	g.accounts = make([]genAccount, r.Users)
	u, ch := r.Users, &g.cohorts
	ch.New, ch.Quiet, ch.Returning = int(float64(u)*r.NewShare), int(float64(u)*r.QuietShare), int(float64(u)*r.ReturningShare)
	ch.Steady = u - ch.New - ch.Quiet - ch.Returning // ≥ 1: the shares sum below 1
	spare := r.Events - u
	ch.Returned = min(ch.Returning, spare)
	spare -= ch.Returned
	planted := func(share float64) (n, stride int) {
		if share == 0 {
			return 0, 1
		}
		n = min(max(1, int(float64(u)*share)), ch.Steady)
		return n, ch.Steady / n
	}
	g.whales, g.wStride = planted(r.WhaleShare)
	g.abusers, g.aStride = planted(r.AbuserShare)
	for k := range g.abusers { // bursts take at most half the spare events
		if g.burstN+int64(g.burstSize(k)) > int64(spare/2) {
			g.abusers = k
			break
		}
		g.burstN += int64(g.burstSize(k))
	}

	end, w, salt := g.now, r.Window.Milliseconds(), r.Seed*0x9e3779b97f4a7c15
	g.streams[kSteady] = newGenStream(ch.Steady, end-w, end, salt+kSteady)
	g.streams[kGone] = newGenStream(ch.Returning, end-w, end-goneBy.Milliseconds(), salt+kGone)
	g.streams[kQuiet] = newGenStream(ch.Quiet, end-w, end-quietBy.Milliseconds(), salt+kQuiet)
	g.streams[kNew] = newGenStream(ch.New, end-newWithin.Milliseconds(), end, salt+kNew)
	g.streams[kBack] = newGenStream(ch.Returned, end-backWithin.Milliseconds(), end, salt+kBack)
	g.streams[kActivity] = newGenStream(spare-int(g.burstN), end-w, end, salt+kActivity)
	g.burst = newGenBursts(g, end-burstWithin.Milliseconds(), end-burstBy.Milliseconds())

	g.types = []string{scoring.TypeSignup, scoring.TypeLogin, scoring.TypePurchase, scoring.TypeRefund, scoring.TypeCoupon}
	var cum float64
	for _, typ := range slices.Sorted(maps.Keys(r.Mix)) {
		i := slices.Index(g.types, typ)
		if i < 0 {
			i = len(g.types)
			g.types = append(g.types, typ)
		}
		cum += r.Mix[typ]
		g.mixCum, g.mixType = append(g.mixCum, cum), append(g.mixType, uint8(i))
	}
	g.zipf = newZipfRanks(u, r.ZipfExponent, r.ZipfOffset)
	g.zipfA, g.zipfB = 1+g.rng.Uint64N(uint64(u)), g.rng.Uint64N(uint64(u))
	for gcdU64(g.zipfA, uint64(u)) != 1 {
		g.zipfA = 1 + g.rng.Uint64N(uint64(u))
	}
	g.mu, g.muWhale = math.Log(r.OrderMedian), math.Log(r.OrderMedian*r.WhaleFactor)
	return g
}

// idPrefix is what every event ID of a population starts with.
func idPrefix(seed uint64, runID string) string {
	if runID != "" {
		return "s" + strconv.FormatUint(seed, 10) + "-" + runID + "-e"
	}
	return "s" + strconv.FormatUint(seed, 10) + "-e"
}

func gcdU64(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Next returns the next event: its subject (strata.events.<user>), its JSON
// payload (fresh: the caller owns it) and the user's shard (cluster.ShardOf
// with Shards). ok is false once Events events were returned.
func (g *Generator) Next() (subject string, payload []byte, shard uint16, ok bool) {
	i := g.i
	var ev genEvent
	if !g.step(&ev) {
		return "", nil, 0, false
	}
	b := strconv.AppendUint(append(g.buf[:0], cluster.EventsPrefix+"u"...), uint64(ev.user), 10)
	subject = string(b)
	user := subject[len(cluster.EventsPrefix):]
	b = strconv.AppendInt(append(append(b[:0], `{"id":"`...), g.prefix...), int64(i), 10)
	b = append(append(append(b, `","user":"`...), user...), `","type":"`...)
	b = strconv.AppendInt(append(append(b, g.types[ev.typ]...), `","ts":`...), ev.ts, 10)
	if ev.typ == tPurchase || ev.typ == tRefund {
		b = strconv.AppendUint(append(b, `,"amount":`...), uint64(ev.cents/100), 10)
		b = append(b, '.', byte('0'+ev.cents/10%10), byte('0'+ev.cents%10))
	}
	if ev.typ == tRefund {
		b = append(append(b, `,"props":{"purchase":"`...), g.prefix...)
		b = append(strconv.AppendUint(b, uint64(ev.ref), 10), `"}`...)
	}
	g.buf = append(b, '}')
	return subject, slices.Clone(g.buf), uint16(cluster.ShardOf(user, g.c.Shards)), true
}

// Expected summarises the whole run, whatever Next already returned. Events,
// Cohorts, Whales, Abusers and BurstEvents follow from the config; Users and
// Types are counted by a dry pass over the whole run on the first call: Next
// without the JSON, about 100 ns per event (0.1 s per million) and 8 B +
// 1 bit per user while it runs. The result is cached.
func (g *Generator) Expected() Expectation {
	if g.expected == nil {
		d := buildGenerator(g.c, g.now)
		counts := make([]int64, len(d.types))
		seen := make([]uint64, (g.c.Users+63)/64)
		e := Expectation{Events: g.c.Events, Types: map[string]int64{}, Cohorts: g.cohorts,
			Whales: g.whales, Abusers: g.abusers, BurstEvents: g.burstN}
		for ev := (genEvent{}); d.step(&ev); {
			counts[ev.typ]++
			if w, bit := &seen[ev.user/64], uint64(1)<<(ev.user%64); *w&bit == 0 {
				*w |= bit
				e.Users++
			}
		}
		for t, n := range counts {
			if n > 0 {
				e.Types[d.types[t]] = n
			}
		}
		g.expected = &e
	}
	e := *g.expected
	e.Types = maps.Clone(e.Types)
	return e
}

// step generates the next event into ev; false after Events events.
func (g *Generator) step(ev *genEvent) bool {
	if g.i >= g.c.Events {
		return false
	}
	k, t := -1, int64(0)
	for s := range g.streams {
		if st := &g.streams[s]; st.j < st.n && (k < 0 || st.next < t) {
			k, t = s, st.next
		}
	}
	if b, ch := &g.burst, &g.cohorts; b.k < b.n && (k < 0 || b.next < t) {
		*ev = genEvent{user: b.user, typ: tCoupon, ts: b.next}
		b.advance(g)
	} else {
		st := &g.streams[k]
		*ev = genEvent{ts: t, typ: tLogin}
		switch k {
		case kSteady:
			ev.user = uint32(st.j)
			if g.isWhale(st.j) { // antithetic pairs: one first order above the whale median, one below
				z := math.Abs(g.rng.NormFloat64())
				if st.j/g.wStride%2 == 1 {
					z = -z
				}
				g.purchase(ev, g.orderCents(g.muWhale, z))
			}
		case kGone, kBack:
			ev.user = uint32(ch.Steady + st.j)
		case kQuiet:
			ev.user = uint32(ch.Steady + ch.Returning + st.j)
		case kNew:
			ev.user, ev.typ = uint32(ch.Steady+ch.Returning+ch.Quiet+st.j), tSignup
		case kActivity:
			g.activity(ev)
		}
		st.advance()
	}
	g.i++
	return true
}

// activity fills ev, whose ts is set, with one ordinary event: a Zipf-drawn
// user active at ts refunds their last purchase if that is due, and
// otherwise does something from the Mix.
func (g *Generator) activity(ev *genEvent) {
	ev.user = g.drawUser(ev.ts)
	if a := &g.accounts[ev.user]; a.cents&pendingRefund != 0 {
		c := a.cents &^ pendingRefund
		ev.typ, ev.cents, ev.ref = tRefund, c, a.purchase
		if c > 1 && g.rng.Float64() < partialRefund {
			ev.cents = 1 + uint32(g.rng.Uint64N(uint64(c-1)))
		}
		a.cents = 0
		return
	}
	x := g.rng.Float64() * g.mixCum[len(g.mixCum)-1]
	n, _ := slices.BinarySearch(g.mixCum, x)
	for g.mixCum[n] <= x { // past zero weights
		n++
	}
	if ev.typ = g.mixType[n]; ev.typ == tPurchase {
		mu := g.mu
		if g.isWhale(int(ev.user)) {
			mu = g.muWhale
		}
		g.purchase(ev, g.orderCents(mu, g.rng.NormFloat64()))
	}
}

// purchase makes ev, whose user is set, a purchase of cents and records it
// for a later refund, decided now with RefundProb.
func (g *Generator) purchase(ev *genEvent, cents uint32) {
	ev.typ, ev.cents = tPurchase, cents
	a := &g.accounts[ev.user]
	a.purchase, a.cents = uint32(g.i), cents
	if g.rng.Float64() < g.c.RefundProb {
		a.cents |= pendingRefund
	}
}

// orderCents is a log-normal order value in cents, from a standard normal z.
func (g *Generator) orderCents(mu, z float64) uint32 {
	return uint32(min(max(math.Round(math.Exp(mu+g.c.OrderSigma*z)*100), 1), maxCents))
}

func (g *Generator) isWhale(u int) bool { return u%g.wStride == 0 && u/g.wStride < g.whales }

// abuser is the user of burst k: the middle of its stride of steady users,
// or the next user when that is a whale (never an abuser: strides are ≥ 2).
func (g *Generator) abuser(k int) uint32 {
	u := k*g.aStride + g.aStride/2
	if g.isWhale(u) && u+1 < g.cohorts.Steady {
		u++
	}
	return uint32(u)
}

// drawUser returns the user of an ordinary event at t: Zipf by activity
// rank, redrawn while the user is not active at t (not signed up yet, gone
// quiet, in their gap), after maxZipfTries a uniform steady user.
func (g *Generator) drawUser(t int64) uint32 {
	n := uint64(g.c.Users)
	for range maxZipfTries {
		if u := (g.zipfA*g.zipf.rank(g.rng.Float64()) + g.zipfB) % n; g.active(int(u), t) {
			return uint32(u)
		}
	}
	return uint32(g.rng.Uint64N(uint64(g.cohorts.Steady)))
}

// active reports whether user u may have an ordinary event at t. As anchors
// win ties, a user's signup or return always comes before their activity,
// and their last event before a gap after it.
func (g *Generator) active(u int, t int64) bool {
	ch := &g.cohorts
	switch {
	case u < ch.Steady:
		return true
	case u < ch.Steady+ch.Returning:
		j := u - ch.Steady
		return t < g.streams[kGone].at(j) || j < ch.Returned && t >= g.streams[kBack].at(j)
	case u < ch.Steady+ch.Returning+ch.Quiet:
		return t < g.streams[kQuiet].at(u-ch.Steady-ch.Returning)
	default:
		return t >= g.streams[kNew].at(u-ch.Steady-ch.Returning-ch.Quiet)
	}
}

// genStream is n events over [from, from+span]: event j lies at a hashed
// offset inside the j-th of n equal slots, so times never decrease with j.
type genStream struct {
	n, j int   // events, index of the next one
	next int64 // time of event j (Unix ms) while j < n
	from int64
	span float64
	salt uint64
}

func newGenStream(n int, from, to int64, salt uint64) genStream {
	s := genStream{n: n, from: from, span: float64(to - from), salt: salt}
	if n > 0 {
		s.next = s.at(0)
	}
	return s
}

func (s *genStream) at(j int) int64 {
	return s.from + int64(s.span*((float64(j)+unitFloat(splitmix(s.salt^uint64(j)<<8)))/float64(s.n)))
}

func (s *genStream) advance() {
	if s.j++; s.j < s.n {
		s.next = s.at(s.j)
	}
}

// genBursts is the abusers' coupon bursts: burst k starts the k-th of n
// equal slots of its interval and its coupons follow burstGap apart (closer
// when the slot is short), so bursts never overlap.
type genBursts struct {
	n, k, i   int // bursts, current burst, index in it
	size      int // length of burst k
	user      uint32
	next      int64
	from      int64
	slot, gap float64 // ms
}

func newGenBursts(g *Generator, from, to int64) genBursts {
	b := genBursts{n: g.abusers, from: from}
	if b.n > 0 {
		b.slot = float64(to-from) / float64(b.n)
		b.gap = min(float64(burstGap.Milliseconds()), b.slot/float64(g.c.BurstSize+g.c.BurstSize/4))
		b.start(g, 0)
	}
	return b
}

func (b *genBursts) start(g *Generator, k int) {
	if b.k, b.i = k, 0; k < b.n {
		b.size, b.user, b.next = g.burstSize(k), g.abuser(k), b.from+int64(b.slot*float64(k))
	}
}

func (b *genBursts) advance(g *Generator) {
	if b.i++; b.i == b.size {
		b.start(g, b.k+1)
		return
	}
	b.next = b.from + int64(b.slot*float64(b.k)+b.gap*float64(b.i))
}

// burstSize is the length of burst k: uniform in BurstSize ± BurstSize/4.
func (g *Generator) burstSize(k int) int {
	q := g.c.BurstSize / 4
	return g.c.BurstSize - q + int(splitmix(g.c.Seed^0xb0b5^uint64(k)<<16)%uint64(2*q+1))
}

// zipfRanks draws activity ranks 0..n−1 with P(k) = ∫ x^−s over [k+v, k+v+1)
// (normalised), ≈ (k + v + ½)^−s, by inverting the continuous CDF: one Exp or
// Pow per draw, for any s > 0 (math/rand/v2's Zipf needs s > 1, which gives
// the busiest users a fixed share of all activity whatever the population).
type zipfRanks struct {
	n, s, v    float64
	lo, hi, in float64 // s ≠ 1: v^(1−s), (n+v)^(1−s), 1/(1−s); s = 1: hi = ln((n+v)/v)
}

func newZipfRanks(n int, s, v float64) zipfRanks {
	z := zipfRanks{n: float64(n), s: s, v: v}
	if s == 1 {
		z.hi = math.Log((z.n + v) / v)
	} else {
		z.lo, z.hi, z.in = math.Pow(v, 1-s), math.Pow(z.n+v, 1-s), 1/(1-s)
	}
	return z
}

// rank maps u in [0, 1) to a rank.
func (z *zipfRanks) rank(u float64) uint64 {
	var x float64
	if z.s == 1 {
		x = z.v * math.Exp(u*z.hi)
	} else {
		x = math.Pow(z.lo+u*(z.hi-z.lo), z.in)
	}
	return uint64(min(max(x-z.v, 0), z.n-1))
}

// splitmix is SplitMix64's finaliser: a stateless hash for per-index jitter.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// unitFloat maps a hash to [0, 1).
func unitFloat(x uint64) float64 { return float64(x>>11) / (1 << 53) }
