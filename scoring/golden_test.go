package scoring

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// goldenResults is the hash of every result of goldenStream, computed by the
// code of commit e7e061e (before the performance work of issue 4). It is the
// one golden value of the package: replicas replay logs and compare state
// hashes, and states already stored must decode and continue identically, so
// no optimisation may change a single bit of a transition, a score, an
// encoding or a deadline. If this test fails, results changed: that is a
// new model version (and a new state version), never a golden update.
const goldenResults = "eaa7d6cc20b4ef0d09598f7a03daf5ec363439b6b8b92d2cea1932774c9abd52"

// TestGoldenResults feeds long seeded random streams (interleaved users of
// several kinds, events in and out of order, timers, encode/decode round
// trips) through Apply and Advance under the default model and a model with
// small windows, and hashes every transition, state encoding, NextDue and
// score along the way.
func TestGoldenResults(t *testing.T) {
	h := sha256.New()
	goldenStream(t, h, DefaultParams(), 1, 60_000)
	goldenStream(t, h, goldenSmallParams(), 2, 30_000)
	if got := hex.EncodeToString(h.Sum(nil)); got != goldenResults {
		t.Fatalf("results changed: hash %s, want %s", got, goldenResults)
	}
}

// goldenSmallParams has short windows, few kept coupons and custom weights,
// so that pruning, saturation and every deadline kind fire often.
func goldenSmallParams() Params {
	p := DefaultParams()
	p.Weights = map[string]float64{TypePurchase: 1.5, TypeLogin: 0.7, TypeCoupon: 0.25, "level_up": 4, TypeView: 0}
	p.DefaultWeight = 0.05
	p.HalfLife = 17 * time.Hour
	p.ActiveDaysShort, p.ActiveDaysLong = 3, 11
	p.MonetaryDays, p.PurchaseDays, p.RefundDays = 40, 20, 13
	p.NewFor, p.SilentAfter, p.ChurnedAfter, p.ReactivatedFor = 2*24*time.Hour, 3*24*time.Hour, 9*24*time.Hour, 36*time.Hour
	p.CouponWindow, p.CouponKeep, p.BurstMinutes = 5*time.Hour, 5, 7
	p.FraudBias, p.FraudCoupon, p.FraudRefundRatio, p.FraudBurst = -3, 0.6, 2.5, 0.4
	p.ValueLongTail, p.ValueHighPotential = 300, 2500
	p.RiskWatch, p.RiskHigh = 55.5, 90
	return p
}

var goldenTypes = []string{
	TypeSignup, TypeLogin, TypeView, TypeInteraction, TypeTask, TypePurchase, TypeRefund,
	TypeCoupon, TypeReferral, TypeSupport, TypeProfile, "level_up", "x",
}

// goldenStream runs n calls over 61 interleaved users. User kinds: casual
// (random types, jumps of minutes to weeks), buyer (purchases and refunds
// every few minutes to hours, hundreds of day buckets), farmer (coupon and
// event bursts within minutes), sleeper (long silences, returns after churn).
func goldenStream(t *testing.T, h hash.Hash, p Params, seed uint64, n int) {
	m, err := NewModel(p)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	const users = 61
	states := make([]State, users)
	nows := make([]int64, users)
	for u := range nows {
		nows[u] = t0 + r.Int64N(30*Day)
	}
	var out []Transition
	var buf []byte
	var trans, timers, maxMoney, maxMinutes, maxCoupons int
	reached := map[string]bool{}
	w := func(v int64) { buf = binary.LittleEndian.AppendUint64(buf, uint64(v)) }
	ws := func(s string) { w(int64(len(s))); buf = append(buf, s...) }
	for i := range n {
		u := r.IntN(users)
		s := &states[u]
		kind := u % 4
		switch kind {
		case 0: // casual
			nows[u] += []int64{r.Int64N(minute), r.Int64N(hour), r.Int64N(3 * Day), r.Int64N(20 * Day)}[r.IntN(4)]
		case 1: // buyer
			nows[u] += r.Int64N(36 * hour)
		case 2: // farmer
			if r.IntN(20) == 0 {
				nows[u] += r.Int64N(4 * Day)
			} else {
				nows[u] += r.Int64N(40_000)
			}
		default: // sleeper
			if r.IntN(3) == 0 {
				nows[u] += r.Int64N(80 * Day)
			} else {
				nows[u] += r.Int64N(2 * hour)
			}
		}
		now := nows[u]
		if r.IntN(50) == 0 {
			now -= r.Int64N(Day) // an earlier now: taken as the evaluation time
		}
		out = out[:0]
		if r.IntN(7) == 0 {
			out = m.Advance(s, now, out)
		} else {
			var typ string
			switch kind {
			case 1:
				typ = []string{TypePurchase, TypePurchase, TypeRefund, TypeView, TypeLogin}[r.IntN(5)]
			case 2:
				typ = []string{TypeCoupon, TypeCoupon, TypeCoupon, TypeView, TypeRefund, TypePurchase}[r.IntN(6)]
			default:
				typ = goldenTypes[r.IntN(len(goldenTypes))]
			}
			ts := now
			switch r.IntN(6) {
			case 0:
				ts -= r.Int64N(400 * Day)
			case 1:
				ts -= r.Int64N(2 * Day)
			case 2:
				ts += r.Int64N(5 * minute)
			case 3:
				ts -= r.Int64N(2 * hour)
			}
			var amount int64
			if typ == TypePurchase || typ == TypeRefund {
				switch r.IntN(10) {
				case 0:
					amount = r.Int64N(1 << 62) // saturates day buckets
				case 1:
					amount = -r.Int64N(1000) // clamped to 0
				default: // heavy-tailed, in integers only
					amount = (1 + r.Int64N(1000)) << r.IntN(22)
				}
			}
			e := Event{ID: "e" + strconv.Itoa(i), User: "u" + strconv.Itoa(u), Type: typ, TS: ts, Amount: amount}
			out = m.Apply(s, &e, now, out)
		}
		buf = buf[:0]
		w(int64(i))
		w(int64(len(out)))
		for _, tr := range out {
			ws(tr.Dimension)
			ws(tr.From)
			ws(tr.To)
			w(int64(tr.Seq))
			w(tr.At)
			ws(tr.Reason)
			ws(tr.Cause)
			buf = appendScores(buf, tr.Scores)
		}
		checkCaches(t, m, s, i)
		enc, err := s.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		ws(string(enc))
		w(m.NextDue(s))
		for d := range numDims {
			w(int64(s.Tier(d)))
		}
		w(int64(s.Events()))
		w(s.FirstSeen())
		w(s.LastSeen())
		if r.IntN(5) == 0 {
			at := now + []int64{0, r.Int64N(hour), r.Int64N(10 * Day), r.Int64N(500 * Day)}[r.IntN(4)]
			buf = appendScores(buf, m.Scores(s, at))
		}
		h.Write(buf)
		if r.IntN(10) == 0 { // continue from the stored state, as after an activation
			var d State
			if err := d.UnmarshalBinary(enc); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if r.IntN(2) == 0 {
				buf = buf[:0]
				w(m.NextDue(&d)) // a decoded state computes its deadline afresh
				h.Write(buf)
			}
			*s = d
		}
		for _, tr := range out {
			reached[tr.Dimension+">"+tr.To] = true
		}
		timers += count(out, CauseTimer)
		trans += len(out)
		maxMoney = max(maxMoney, len(s.money))
		maxMinutes = max(maxMinutes, len(s.minutes))
		maxCoupons = max(maxCoupons, len(s.coupons))
	}
	t.Logf("%d calls: %d transitions (%d by timer), %d tiers reached; at most %d money buckets, %d minutes, %d coupons",
		n, trans, timers, len(reached), maxMoney, maxMinutes, maxCoupons)
	if timers < n/50 || len(reached) < 12 || maxMoney < min(200, p.MonetaryDays/2) ||
		maxMinutes < min(20, p.BurstMinutes) || maxCoupons < p.CouponKeep {
		t.Errorf("weak coverage")
	}
}

func count(out []Transition, cause string) int {
	c := 0
	for _, tr := range out {
		if tr.Cause == cause {
			c++
		}
	}
	return c
}

func appendScores(b []byte, sc Scores) []byte {
	for _, v := range []float64{sc.Activity, sc.Monetary365d, sc.RecencyDays, sc.ChurnRisk, sc.FraudRisk} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	for _, v := range []int{sc.ActiveDays7, sc.ActiveDays30, sc.Purchases90d} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b
}

// checkCaches fails unless the caches of s (not encoded, not hashed) equal
// what a fresh computation gives.
func checkCaches(t *testing.T, m *Model, s *State, step int) {
	t.Helper()
	var net int64
	for _, b := range s.money {
		net += b.purchase - b.refund
	}
	fresh := *s
	fresh.valueDueOK, fresh.dueOK = false, false
	if s.net != net || s.valueDueOK && s.valueDue != m.valueDue(&fresh) || s.dueOK && s.due != m.computeDue(&fresh) {
		t.Fatalf("step %d: stale cache: net %d (want %d), valueDue %d (ok %v, want %d), due %d (ok %v, want %d)", step,
			s.net, net, s.valueDue, s.valueDueOK, m.valueDue(&fresh), s.due, s.dueOK, m.computeDue(&fresh))
	}
}
