package bench_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/bench"
	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/scoring"
)

var popNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// smallPopulation is the 5k-user, 50k-event population most tests use.
func smallPopulation() bench.PopulationConfig {
	c := bench.DefaultPopulation()
	c.Users, c.Events, c.Shards = 5_000, 50_000, 4
	return c
}

// popEvent is one generated event, decoded.
type popEvent struct {
	i       int
	subject string
	shard   uint16
	ev      scoring.Event
}

// decodeAll runs a whole population through scoring.Decode and fails the
// test on any rejection or inconsistency between subject, shard and payload.
func decodeAll(t *testing.T, c bench.PopulationConfig) ([]popEvent, bench.Expectation) {
	t.Helper()
	g, err := bench.NewGenerator(c, popNow)
	if err != nil {
		t.Fatal(err)
	}
	var out []popEvent
	ids := map[string]bool{}
	for i := 0; ; i++ {
		subject, payload, shard, ok := g.Next()
		if !ok {
			break
		}
		user, found := strings.CutPrefix(subject, cluster.EventsPrefix)
		if !found {
			t.Fatalf("event %d: subject %q", i, subject)
		}
		ev, err := scoring.Decode(payload, user, popNow.UnixMilli(), scoring.DefaultLimits())
		if err != nil {
			t.Fatalf("event %d rejected: %v\n%s", i, err, payload)
		}
		if want := uint16(cluster.ShardOf(user, c.Shards)); shard != want {
			t.Fatalf("event %d: shard %d, cluster.ShardOf says %d", i, shard, want)
		}
		if ids[ev.ID] {
			t.Fatalf("event %d: duplicate id %q", i, ev.ID)
		}
		ids[ev.ID] = true
		if len(out) > 0 && ev.TS < out[len(out)-1].ev.TS {
			t.Fatalf("event %d: ts %d before the previous event's %d: the run is not in time order", i, ev.TS, out[len(out)-1].ev.TS)
		}
		out = append(out, popEvent{i, subject, shard, ev})
	}
	return out, g.Expected()
}

// Every payload passes Decode, timestamps stay inside the window, and
// Expected matches what Next sent.
func TestGeneratorDecodesAll(t *testing.T) {
	c := smallPopulation()
	evs, exp := decodeAll(t, c)
	if len(evs) != c.Events || exp.Events != c.Events {
		t.Fatalf("%d events sent, Expected says %d, want %d", len(evs), exp.Events, c.Events)
	}
	types := map[string]int64{}
	users := map[string]bool{}
	oldest := popNow.Add(-c.Window).UnixMilli()
	for _, e := range evs {
		types[e.ev.Type]++
		users[e.ev.User] = true
		if e.ev.TS < oldest || e.ev.TS > popNow.UnixMilli() {
			t.Fatalf("event %d: ts %v outside [now − %v, now]", e.i, time.UnixMilli(e.ev.TS).UTC(), c.Window)
		}
		if (e.ev.Type == scoring.TypePurchase || e.ev.Type == scoring.TypeRefund) != (e.ev.Amount > 0) {
			t.Fatalf("event %d: %s with amount %d milli-units", e.i, e.ev.Type, e.ev.Amount)
		}
	}
	if len(users) != c.Users || exp.Users != c.Users {
		t.Errorf("%d distinct users got events, Expected says %d, want all %d", len(users), exp.Users, c.Users)
	}
	for u := range c.Users {
		if !users[fmt.Sprint("u", u)] {
			t.Fatalf("user u%d got no event", u)
		}
	}
	if fmt.Sprint(types) != fmt.Sprint(exp.Types) {
		t.Errorf("types sent %v, Expected %v", types, exp.Types)
	}
	for _, typ := range []string{"signup", "login", "view", "interaction", "task", "purchase", "refund", "coupon", "referral", "support"} {
		if types[typ] == 0 {
			t.Errorf("no %s events: %v", typ, types)
		}
	}
	t.Logf("types %v, cohorts %+v, whales %d, abusers %d (%d burst events)", types, exp.Cohorts, exp.Whales, exp.Abusers, exp.BurstEvents)
}

func popDigest(t *testing.T, c bench.PopulationConfig, stripIDs bool) [32]byte {
	t.Helper()
	g, err := bench.NewGenerator(c, popNow)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for {
		subject, payload, shard, ok := g.Next()
		if !ok {
			break
		}
		if stripIDs { // {"id":"s<seed>-e<i>",… → {…
			payload = payload[bytes.IndexByte(payload, ','):]
		}
		fmt.Fprintf(h, "%s %d %s\n", subject, shard, payload)
	}
	return [32]byte(h.Sum(nil))
}

// Same config and now: identical bytes. Another seed: other users, types
// and times, not just other IDs.
func TestGeneratorDeterministic(t *testing.T) {
	c := smallPopulation()
	c.Events = 20_000
	if popDigest(t, c, false) != popDigest(t, c, false) {
		t.Fatal("two runs with the same seed differ")
	}
	other := c
	other.Seed++
	if popDigest(t, c, true) == popDigest(t, other, true) {
		t.Fatal("seeds 1 and 2 give the same events (IDs aside)")
	}
}

// The busiest 1% of users do a large share of the events.
func TestPopulationZipfSkew(t *testing.T) {
	c := smallPopulation()
	evs, _ := decodeAll(t, c)
	per := map[string]int{}
	for _, e := range evs {
		per[e.ev.User]++
	}
	counts := slices.Sorted(func(yield func(int) bool) {
		for _, n := range per {
			if !yield(n) {
				return
			}
		}
	})
	slices.Reverse(counts)
	top := 0
	for _, n := range counts[:c.Users/100] {
		top += n
	}
	share := float64(top) / float64(len(evs))
	t.Logf("top 1%% of users: %.1f%% of events; busiest %d, median %d, least %d", 100*share, counts[0], counts[len(counts)/2], counts[len(counts)-1])
	if share < 0.2 {
		t.Errorf("top 1%% of users do %.1f%% of the events, want ≥ 20%%", 100*share)
	}
	if counts[0] > len(evs)/10 {
		t.Errorf("the busiest user does %d of %d events, want ≤ 10%%", counts[0], len(evs))
	}
}

// Each lifecycle cohort shows in the events themselves.
func TestPopulationCohorts(t *testing.T) {
	c := smallPopulation()
	evs, exp := decodeAll(t, c)
	type life struct {
		first, last, gap int64 // ts; gap: longest pause before the last event
		firstType        string
	}
	users := map[string]*life{}
	for _, e := range evs {
		u := users[e.ev.User]
		if u == nil {
			u = &life{first: e.ev.TS, last: e.ev.TS, firstType: e.ev.Type}
			users[e.ev.User] = u
		}
		u.gap = max(u.gap, e.ev.TS-u.last)
		u.last = e.ev.TS
	}
	now := popNow.UnixMilli()
	var signedUp, quiet, returned, steady int
	for _, u := range users {
		switch {
		case u.firstType == scoring.TypeSignup && now-u.first < 7*scoring.Day:
			signedUp++
		case now-u.last >= 8*scoring.Day:
			quiet++
		case u.gap >= 24*scoring.Day && now-u.last < 7*scoring.Day:
			returned++
		case now-u.first > 30*scoring.Day && now-u.last < 7*scoring.Day:
			steady++
		}
	}
	t.Logf("signed up %d, quiet %d, returned %d, steady %d; planned %+v", signedUp, quiet, returned, steady, exp.Cohorts)
	ch := exp.Cohorts
	if ch.New != c.Users/10 || ch.Quiet != c.Users*15/100 || ch.Returning != c.Users/20 || ch.Returned != ch.Returning {
		t.Errorf("cohorts %+v, want the default shares of %d users", ch, c.Users)
	}
	if signedUp != ch.New {
		t.Errorf("%d users signed up in the last week, want the %d new users", signedUp, ch.New)
	}
	// Quiet users all look quiet; so do light steady users whose few events are old.
	if quiet < ch.Quiet {
		t.Errorf("%d users silent for 8+ days, want ≥ %d", quiet, ch.Quiet)
	}
	if returned < ch.Returning {
		t.Errorf("%d users came back after 24+ days, want ≥ %d", returned, ch.Returning)
	}
	if steady < ch.Steady/10 {
		t.Errorf("%d users active from the start to the last week, want ≥ %d", steady, ch.Steady/10)
	}
}

// A refund names an earlier purchase of the same user and never exceeds it;
// no purchase is refunded twice.
func TestPopulationRefunds(t *testing.T) {
	evs, _ := decodeAll(t, smallPopulation())
	purchases := map[string]popEvent{}
	refunded := map[string]bool{}
	var n int
	for _, e := range evs {
		switch e.ev.Type {
		case scoring.TypePurchase:
			purchases[e.ev.ID] = e
		case scoring.TypeRefund:
			n++
			var props struct{ Purchase string }
			if err := json.Unmarshal(e.ev.Props, &props); err != nil {
				t.Fatalf("refund %s: props %s: %v", e.ev.ID, e.ev.Props, err)
			}
			p, ok := purchases[props.Purchase]
			switch {
			case !ok:
				t.Fatalf("refund %s names %q, not an earlier purchase", e.ev.ID, props.Purchase)
			case p.ev.User != e.ev.User:
				t.Fatalf("refund %s of %s names %s's purchase", e.ev.ID, e.ev.User, p.ev.User)
			case e.ev.Amount > p.ev.Amount:
				t.Fatalf("refund %s: %d milli-units, purchase %s was %d", e.ev.ID, e.ev.Amount, p.ev.ID, p.ev.Amount)
			case e.ev.TS < p.ev.TS:
				t.Fatalf("refund %s at %d, before purchase %s at %d", e.ev.ID, e.ev.TS, p.ev.ID, p.ev.TS)
			case refunded[p.ev.ID]:
				t.Fatalf("purchase %s refunded twice", p.ev.ID)
			}
			refunded[p.ev.ID] = true
		}
	}
	t.Logf("%d purchases, %d refunds", len(purchases), n)
	if n == 0 || n > len(purchases)/5 {
		t.Errorf("%d refunds of %d purchases, want some, about RefundProb = 6%%", n, len(purchases))
	}
}

// Applied to the default model, the population reaches every tier: the
// cohorts give each lifecycle tier, whales the top value tiers, and the
// abusers' bursts move risk.
func TestPopulationTiers(t *testing.T) {
	c := smallPopulation()
	evs, exp := decodeAll(t, c)
	m, err := scoring.NewModel(scoring.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]*scoring.State{}
	var out []scoring.Transition
	for _, e := range evs {
		s := states[e.ev.User]
		if s == nil {
			s = new(scoring.State)
			states[e.ev.User] = s
		}
		out = m.Apply(s, &e.ev, popNow.UnixMilli(), out[:0])
	}
	dims := m.Dimensions()
	counts := make([]map[string]int, len(dims))
	for d := range dims {
		counts[d] = map[string]int{}
		for _, s := range states {
			if tier := s.Tier(d); tier > 0 {
				counts[d][dims[d].Tiers[tier-1]]++
			}
		}
		t.Logf("%s: %v", dims[d].Name, counts[d])
		for _, tier := range dims[d].Tiers {
			if counts[d][tier] == 0 {
				t.Errorf("%s: no user is %s", dims[d].Name, tier)
			}
		}
	}
	if exp.Whales != c.Users/500 || exp.Abusers != c.Users/200 {
		t.Errorf("%d whales, %d abusers planted, want %d, %d", exp.Whales, exp.Abusers, c.Users/500, c.Users/200)
	}
	if risky := counts[2]["watch"] + counts[2]["high"]; risky < exp.Abusers {
		t.Errorf("%d users at watch or high risk, want at least the %d abusers", risky, exp.Abusers)
	}
	if counts[1]["whale"]+counts[1]["high_potential"] < exp.Whales {
		t.Errorf("%d whale or high_potential users, want at least the %d whales", counts[1]["whale"]+counts[1]["high_potential"], exp.Whales)
	}
}

// A 10M-user generator must fit comfortably. It keeps 8 B per user (the
// last purchase's event index and amount, for refunds) and O(1) besides, all
// allocated by NewGenerator: Next allocates only the payload and subject it
// returns. Limit: 9 B/user at 1M users, i.e. < 1 MB for all that is not per
// user (the Mix tables, the buffer: a few hundred bytes in fact).
func TestGeneratorMemoryPerUser(t *testing.T) {
	c := bench.DefaultPopulation()
	c.Users, c.Events = 1_000_000, 10_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g, err := bench.NewGenerator(c, popNow)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	perUser := float64(after.TotalAlloc-before.TotalAlloc) / float64(c.Users)
	t.Logf("NewGenerator: %.3f B/user", perUser)
	if perUser > 9 {
		t.Errorf("NewGenerator allocated %.3f B/user, want ≤ 9", perUser)
	}
	if allocs := testing.AllocsPerRun(100_000, func() { g.Next() }); allocs > 2 {
		t.Errorf("Next: %v allocations, want ≤ 2 (payload, subject)", allocs)
	}
}

func TestPopulationValidate(t *testing.T) {
	if err := bench.DefaultPopulation().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if err := (bench.PopulationConfig{}).Validate(); err != nil {
		t.Fatalf("zero config (all defaults): %v", err)
	}
	for _, tc := range []struct {
		name, want string
		mod        func(*bench.PopulationConfig)
	}{
		{"fewer events than users", "Events = 99", func(c *bench.PopulationConfig) { c.Users, c.Events = 100, 99 }},
		{"negative users", "Users = -1", func(c *bench.PopulationConfig) { c.Users = -1 }},
		{"too many shards", "Shards = 5000", func(c *bench.PopulationConfig) { c.Shards = 5000 }},
		{"short window", "Window = 240h0m0s", func(c *bench.PopulationConfig) { c.Window = 10 * 24 * time.Hour }},
		{"share above 1", "QuietShare = 1.5", func(c *bench.PopulationConfig) { c.QuietShare = 1.5 }},
		{"negative share", "AbuserShare = -0.5", func(c *bench.PopulationConfig) { c.AbuserShare = -0.5 }},
		{"NaN", "ZipfExponent = NaN", func(c *bench.PopulationConfig) { c.ZipfExponent = popNaN() }},
		{"cohorts fill everything", "want < 1", func(c *bench.PopulationConfig) { c.NewShare, c.QuietShare, c.ReturningShare = 0.5, 0.3, 0.2 }},
		{"planted beyond steady", "want ≤ half the steady share", func(c *bench.PopulationConfig) { c.WhaleShare, c.NewShare = 0.5, 0.6 }},
		{"refund in mix", `Mix type "refund"`, func(c *bench.PopulationConfig) { c.Mix = map[string]float64{"refund": 1, "view": 1} }},
		{"bad type name", `Mix type "View"`, func(c *bench.PopulationConfig) { c.Mix = map[string]float64{"View": 1} }},
		{"all weights zero", "sum to 0", func(c *bench.PopulationConfig) { c.Mix = map[string]float64{"view": 0} }},
		{"burst too long", "BurstSize = 5000", func(c *bench.PopulationConfig) { c.BurstSize = 5000 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := bench.DefaultPopulation()
			tc.mod(&c)
			before := fmt.Sprintf("%+v", c)
			err := c.Validate()
			if !errors.Is(err, bench.ErrInvalidPopulation) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want ErrInvalidPopulation quoting %q", err, tc.want)
			}
			if after := fmt.Sprintf("%+v", c); after != before {
				t.Fatalf("Validate changed the config: %s → %s", before, after)
			}
			if _, err := bench.NewGenerator(c, popNow); err == nil {
				t.Fatal("NewGenerator accepted it")
			}
		})
	}
}

func popNaN() float64 { z := 0.0; return z / z }

// None switches planted behaviour off; zero keeps the default.
func TestPopulationNone(t *testing.T) {
	c := smallPopulation()
	c.AbuserShare, c.WhaleShare, c.RefundProb, c.NewShare = bench.None, bench.None, bench.None, bench.None
	evs, exp := decodeAll(t, c)
	if exp.Abusers != 0 || exp.Whales != 0 || exp.BurstEvents != 0 || exp.Types["refund"] != 0 || exp.Types["signup"] != 0 || exp.Cohorts.New != 0 {
		t.Fatalf("None left something planted: %+v", exp)
	}
	if len(evs) != c.Events {
		t.Fatalf("%d events, want %d", len(evs), c.Events)
	}
}

// Events = Users: every user gets exactly their one planted event.
func TestGeneratorOneEventPerUser(t *testing.T) {
	c := smallPopulation()
	c.Events = c.Users
	evs, exp := decodeAll(t, c)
	seen := map[string]bool{}
	for _, e := range evs {
		if seen[e.ev.User] {
			t.Fatalf("%s got two events", e.ev.User)
		}
		seen[e.ev.User] = true
	}
	if len(seen) != c.Users || exp.Users != c.Users || exp.Cohorts.Returned != 0 || exp.Abusers != 0 {
		t.Fatalf("%d users, Expected %+v", len(seen), exp)
	}
}

// Tiny and lopsided populations stay valid and complete.
func TestGeneratorEdgeSizes(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*bench.PopulationConfig)
	}{
		{"one user, one event", func(c *bench.PopulationConfig) { c.Users, c.Events = 1, 1 }},
		{"one user", func(c *bench.PopulationConfig) { c.Users, c.Events = 1, 500 }},
		{"three users", func(c *bench.PopulationConfig) { c.Users, c.Events = 3, 100 }},
		{"one spare event", func(c *bench.PopulationConfig) { c.Users, c.Events = 1000, 1001 }},
		{"mostly new users", func(c *bench.PopulationConfig) { c.NewShare, c.QuietShare, c.ReturningShare = 0.8, bench.None, 0.1 }},
		{"seed 0, long window, flat activity", func(c *bench.PopulationConfig) {
			c.Seed, c.Window, c.ZipfExponent, c.OrderSigma = 0, 365*24*time.Hour, 0.5, bench.None
		}},
		{"steep activity, custom types", func(c *bench.PopulationConfig) {
			c.ZipfExponent, c.ZipfOffset, c.Mix = 2.5, 0.5, map[string]float64{"view": 1, "purchase": 1, "add_to_cart": 2, "zero": 0}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := bench.DefaultPopulation()
			c.Users, c.Events = 2_000, 20_000
			tc.mod(&c)
			evs, exp := decodeAll(t, c)
			users := map[string]bool{}
			for _, e := range evs {
				users[e.ev.User] = true
			}
			if len(evs) != c.Events || len(users) != c.Users || exp.Users != c.Users {
				t.Fatalf("%d events for %d users, Expected %+v; want %d for all %d", len(evs), len(users), exp, c.Events, c.Users)
			}
			if exp.Types["zero"] != 0 {
				t.Fatalf("a zero-weight type was drawn: %v", exp.Types)
			}
		})
	}
}

func BenchmarkGeneratorNext(b *testing.B) {
	for _, users := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			c := bench.DefaultPopulation()
			c.Users, c.Events = users, 100*users
			g, err := bench.NewGenerator(c, popNow)
			if err != nil {
				b.Fatal(err)
			}
			var bytes int64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				_, payload, _, ok := g.Next()
				if !ok {
					b.StopTimer()
					g, _ = bench.NewGenerator(c, popNow)
					b.StartTimer()
				}
				bytes += int64(len(payload))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(bytes)/float64(b.N), "B/event")
		})
	}
}

// Expected's dry pass, per event of the run.
func BenchmarkGeneratorExpected(b *testing.B) {
	c := bench.DefaultPopulation() // 100 000 users, 1M events
	b.ReportAllocs()
	for range b.N {
		g, err := bench.NewGenerator(c, popNow)
		if err != nil {
			b.Fatal(err)
		}
		g.Expected()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(c.Events), "ns/event")
}

// The first event of each type in a small population, and what the whole
// run sends.
func ExampleGenerator() {
	c := bench.DefaultPopulation()
	c.Users, c.Events = 1_000, 10_000
	g, err := bench.NewGenerator(c, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	shown := map[string]bool{}
	for {
		subject, payload, shard, ok := g.Next()
		if !ok {
			break
		}
		var ev struct{ Type string }
		_ = json.Unmarshal(payload, &ev)
		if ev.Type != "view" && !shown[ev.Type] { // the first event of each type but view
			shown[ev.Type] = true
			fmt.Println(subject, shard, string(payload))
		}
	}
	e := g.Expected()
	fmt.Printf("%d events, %d users, cohorts %+v\n", e.Events, e.Users, e.Cohorts)
	fmt.Printf("%d whales, %d abusers (%d coupons in bursts)\n", e.Whales, e.Abusers, e.BurstEvents)
	fmt.Println(e.Types)
	// Output:
	// strata.events.u668 4 {"id":"s1-e0","user":"u668","type":"login","ts":1791720292328}
	// strata.events.u650 7 {"id":"s1-e1","user":"u650","type":"interaction","ts":1791720607262}
	// strata.events.u0 0 {"id":"s1-e5","user":"u0","type":"purchase","ts":1791722130515,"amount":300195.47}
	// strata.events.u183 6 {"id":"s1-e8","user":"u183","type":"referral","ts":1791722844706}
	// strata.events.u206 4 {"id":"s1-e9","user":"u206","type":"support","ts":1791723337600}
	// strata.events.u29 5 {"id":"s1-e19","user":"u29","type":"task","ts":1791727021309}
	// strata.events.u526 3 {"id":"s1-e43","user":"u526","type":"coupon","ts":1791735117950}
	// strata.events.u893 0 {"id":"s1-e53","user":"u893","type":"refund","ts":1791738544433,"amount":53.35,"props":{"purchase":"s1-e46"}}
	// strata.events.u900 3 {"id":"s1-e8365","user":"u900","type":"signup","ts":1794661230321}
	// 10000 events, 1000 users, cohorts {Steady:700 New:100 Quiet:150 Returning:50 Returned:50}
	// 2 whales, 5 abusers (56 coupons in bursts)
	// map[coupon:322 interaction:1244 login:2251 purchase:726 referral:190 refund:47 signup:100 support:422 task:670 view:4028]
}
