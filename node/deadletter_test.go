package node_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
	"github.com/strata-io/strata/scoring"
)

// Dead-letter end-to-end tests (issue 2 acceptance point 2, RELIABILITY.md
// trap 11 and invariant I6): every kind of bad input reaches STRATA_DLQ with
// its stable reason, byte for byte, exactly once, while the valid traffic
// interleaved with it is applied and no bad input touches any user's state.

// dlBad is one row of the dead-letter table.
type dlBad struct {
	name    string
	user    string // subject token: the event goes to strata.events.<user>
	payload string // raw bytes; $U expands to user, $TS to a valid ts (t0 − 1 h)
	reason  string // expected Strata-Error
	known   bool   // user is a valid user of the run (its state must stay as the valid event left it)
	absent  []string
}

// Timestamps relative to the fake clock, which stays at t0 for the whole run.
var (
	dlTS       = t0.Add(-time.Hour).Format(time.RFC3339)
	dlFuture   = t0.Add(10 * time.Minute).Format(time.RFC3339)
	dlJustLate = strconv.FormatInt(t0.Add(5*time.Minute).UnixMilli()+1, 10)
	dlStale    = t0.AddDate(0, 0, -401).Format(time.RFC3339)
	dlOldest   = strconv.FormatInt(t0.Add(-400*24*time.Hour).UnixMilli(), 10)
)

// dlNest returns a JSON object nested depth levels deep (depth 1 is "{}").
func dlNest(depth int) string {
	return strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1)
}

// dlPadded returns a view event for user whose props are padded so that the
// whole payload is exactly size bytes.
func dlPadded(user string, size int) string {
	head := `{"id":"pad-` + user + `","user":"` + user + `","type":"view","ts":"` + dlTS + `","props":{"pad":"`
	tail := `"}}`
	return head + strings.Repeat("x", size-len(head)-len(tail)) + tail
}

// dlBadInputs returns the table. Users dl00… are used by one bad input only and
// must never get state; rows marked known target valid users ok00… that exist
// by the time the row is published (rows are published in order, each followed
// by the valid event of ok<row index>).
func dlBadInputs() []dlBad {
	const ok = `{"id":"e-$U","user":"$U","type":"login","ts":"$TS"}`
	rows := []dlBad{
		// Not an event at all.
		{name: "not JSON", payload: `hello world`, reason: scoring.ReasonNotJSON},
		{name: "empty payload", payload: ``, reason: scoring.ReasonEmpty},
		{name: "white space only", payload: " \n\t ", reason: scoring.ReasonNotJSON},
		{name: "truncated object", payload: `{"id":"e-$U","user":"$U"`, reason: scoring.ReasonNotJSON},
		{name: "single-quoted keys", payload: `{'id':'e1'}`, reason: scoring.ReasonNotJSON},
		{name: "UTF-8 BOM before the object", payload: "\xef\xbb\xbf" + ok, reason: scoring.ReasonNotJSON},
		{name: "JSON array", payload: `[` + ok + `]`, reason: scoring.ReasonNotObject},
		{name: "JSON string", payload: `"an event"`, reason: scoring.ReasonNotObject},
		{name: "JSON null", payload: `null`, reason: scoring.ReasonNotObject},
		{name: "JSON number", payload: `42`, reason: scoring.ReasonNotObject},
		{name: "trailing data", payload: ok + ` {}`, reason: scoring.ReasonTrailingData},
		{name: "two concatenated events", payload: ok + ok, reason: scoring.ReasonTrailingData},
		{name: "invalid UTF-8", payload: `{"id":"e-` + "\xff\xfe" + `","user":"$U","type":"login","ts":"$TS"}`, reason: scoring.ReasonInvalidUTF8},
		{name: "payload one byte over 64 KiB", user: "dl-big1", payload: dlPadded("dl-big1", 65537), reason: scoring.ReasonTooLarge},
		{name: "payload of 200 KB", user: "dl-big2", payload: dlPadded("dl-big2", 200_000), reason: scoring.ReasonTooLarge},

		// Structure.
		{name: "duplicate field", payload: `{"id":"e-$U","id":"e2","user":"$U","type":"login","ts":"$TS"}`, reason: scoring.ReasonDuplicateField},
		{name: "unknown field", payload: `{"id":"e-$U","user":"$U","type":"login","ts":"$TS","color":"red"}`, reason: scoring.ReasonUnknownField},
		{name: "field name case", payload: `{"ID":"e-$U","user":"$U","type":"login","ts":"$TS"}`, reason: scoring.ReasonUnknownField},

		// id.
		{name: "missing id", payload: `{"user":"$U","type":"login","ts":"$TS"}`, reason: scoring.ReasonMissingID},
		{name: "empty id", payload: `{"id":"","user":"$U","type":"login","ts":"$TS"}`, reason: scoring.ReasonInvalidID},
		{name: "id of 129 bytes", payload: `{"id":"` + strings.Repeat("i", 129) + `","user":"$U","type":"login","ts":"$TS"}`, reason: scoring.ReasonInvalidID},
		{name: "id not a string", payload: `{"id":17,"user":"$U","type":"login","ts":"$TS"}`, reason: scoring.ReasonBadID},
		{name: "id null", payload: `{"id":null,"user":"$U","type":"login","ts":"$TS"}`, reason: scoring.ReasonBadID},
		{name: "escaped control char in id", payload: `{"id":"e\u0001","user":"$U","type":"login","ts":"$TS"}`, reason: scoring.ReasonInvalidID},
		{name: "raw DEL in id", payload: "{\"id\":\"e\x7f\",\"user\":\"$U\",\"type\":\"login\",\"ts\":\"$TS\"}", reason: scoring.ReasonInvalidID},
		{name: "C1 control in id", payload: `{"id":"e` + "\u0085" + `","user":"$U","type":"login","ts":"$TS"}`, reason: scoring.ReasonInvalidID},

		// user.
		{name: "missing user", payload: `{"id":"e-$U","type":"login","ts":"$TS"}`, reason: scoring.ReasonMissingUser},
		{name: "user differs from subject", user: "u1", payload: `{"id":"e1","user":"u2","type":"login","ts":"$TS"}`, reason: scoring.ReasonUserMismatch, absent: []string{"u2"}},
		{name: "user not a string", payload: `{"id":"e-$U","user":5,"type":"login","ts":"$TS"}`, reason: scoring.ReasonBadUser},
		{name: "empty user", payload: `{"id":"e-$U","user":"","type":"login","ts":"$TS"}`, reason: scoring.ReasonInvalidUser},
		{name: "user of 129 bytes", user: strings.Repeat("w", 129), payload: `{"id":"e1","user":"$U","type":"login","ts":"$TS"}`, reason: scoring.ReasonInvalidUser},

		// type.
		{name: "missing type", payload: `{"id":"e-$U","user":"$U","ts":"$TS"}`, reason: scoring.ReasonMissingType},
		{name: "type not a string", payload: `{"id":"e-$U","user":"$U","type":["login"],"ts":"$TS"}`, reason: scoring.ReasonBadType},
		{name: "type with bad characters", payload: `{"id":"e-$U","user":"$U","type":"Purchase!","ts":"$TS"}`, reason: scoring.ReasonInvalidType},
		{name: "empty type", payload: `{"id":"e-$U","user":"$U","type":"","ts":"$TS"}`, reason: scoring.ReasonInvalidType},
		{name: "type of 65 bytes", payload: `{"id":"e-$U","user":"$U","type":"` + strings.Repeat("t", 65) + `","ts":"$TS"}`, reason: scoring.ReasonInvalidType},

		// ts.
		{name: "missing ts", payload: `{"id":"e-$U","user":"$U","type":"login"}`, reason: scoring.ReasonMissingTS},
		{name: "ts garbage string", payload: `{"id":"e-$U","user":"$U","type":"login","ts":"yesterday"}`, reason: scoring.ReasonBadTS},
		{name: "ts without zone", payload: `{"id":"e-$U","user":"$U","type":"login","ts":"2026-11-20T11:00:00"}`, reason: scoring.ReasonBadTS},
		{name: "ts float", payload: `{"id":"e-$U","user":"$U","type":"login","ts":1763636400000.5}`, reason: scoring.ReasonBadTS},
		{name: "ts negative", payload: `{"id":"e-$U","user":"$U","type":"login","ts":-1}`, reason: scoring.ReasonBadTS},
		{name: "ts before 1970", payload: `{"id":"e-$U","user":"$U","type":"login","ts":"1969-12-31T23:59:59Z"}`, reason: scoring.ReasonBadTS},
		{name: "ts boolean", payload: `{"id":"e-$U","user":"$U","type":"login","ts":true}`, reason: scoring.ReasonBadTS},
		{name: "ts overflows int64", payload: `{"id":"e-$U","user":"$U","type":"login","ts":99999999999999999999999}`, reason: scoring.ReasonBadTS},
		{name: "ts 10 minutes in the future", payload: `{"id":"e-$U","user":"$U","type":"login","ts":"` + dlFuture + `"}`, reason: scoring.ReasonFutureTS},
		{name: "ts 5 min 1 ms in the future (ms)", payload: `{"id":"e-$U","user":"$U","type":"login","ts":` + dlJustLate + `}`, reason: scoring.ReasonFutureTS},
		{name: "ts 401 days old", payload: `{"id":"e-$U","user":"$U","type":"login","ts":"` + dlStale + `"}`, reason: scoring.ReasonStaleTS},

		// amount.
		{name: "purchase without amount", payload: `{"id":"e-$U","user":"$U","type":"purchase","ts":"$TS"}`, reason: scoring.ReasonMissingAmount},
		{name: "refund without amount", payload: `{"id":"e-$U","user":"$U","type":"refund","ts":"$TS"}`, reason: scoring.ReasonMissingAmount},
		{name: "negative amount", payload: `{"id":"e-$U","user":"$U","type":"purchase","ts":"$TS","amount":-5}`, reason: scoring.ReasonNegativeAmount},
		{name: "amount as string", payload: `{"id":"e-$U","user":"$U","type":"purchase","ts":"$TS","amount":"100"}`, reason: scoring.ReasonBadAmount},
		{name: "amount null", payload: `{"id":"e-$U","user":"$U","type":"purchase","ts":"$TS","amount":null}`, reason: scoring.ReasonBadAmount},
		{name: "amount NaN", payload: `{"id":"e-$U","user":"$U","type":"purchase","ts":"$TS","amount":NaN}`, reason: scoring.ReasonNotJSON},
		{name: "amount Infinity", payload: `{"id":"e-$U","user":"$U","type":"purchase","ts":"$TS","amount":Infinity}`, reason: scoring.ReasonNotJSON},
		{name: "amount 1e13", payload: `{"id":"e-$U","user":"$U","type":"purchase","ts":"$TS","amount":1e13}`, reason: scoring.ReasonAbsurdAmount},
		{name: "amount just over 1e12", payload: `{"id":"e-$U","user":"$U","type":"purchase","ts":"$TS","amount":1000000000000.001}`, reason: scoring.ReasonAbsurdAmount},
		{name: "amount 1e400", payload: `{"id":"e-$U","user":"$U","type":"purchase","ts":"$TS","amount":1e400}`, reason: scoring.ReasonAbsurdAmount},
		{name: "amount -1e400", payload: `{"id":"e-$U","user":"$U","type":"refund","ts":"$TS","amount":-1e400}`, reason: scoring.ReasonAbsurdAmount},
		{name: "absurd amount on a login", payload: `{"id":"e-$U","user":"$U","type":"login","ts":"$TS","amount":1e13}`, reason: scoring.ReasonAbsurdAmount},

		// props.
		{name: "props array", payload: `{"id":"e-$U","user":"$U","type":"login","ts":"$TS","props":[1,2]}`, reason: scoring.ReasonBadProps},
		{name: "props string", payload: `{"id":"e-$U","user":"$U","type":"login","ts":"$TS","props":"x"}`, reason: scoring.ReasonBadProps},
		{name: "props nested 9 levels", payload: `{"id":"e-$U","user":"$U","type":"login","ts":"$TS","props":` + dlNest(9) + `}`, reason: scoring.ReasonBadProps},

		// Attributes and tags.
		{name: "profile attribute nested", payload: `{"id":"e-$U","user":"$U","type":"profile","ts":"$TS","props":{"region":{"city":"x"}}}`, reason: scoring.ReasonBadAttributes},
		{name: "profile attribute name in capitals", payload: `{"id":"e-$U","user":"$U","type":"profile","ts":"$TS","props":{"Region":"eu"}}`, reason: scoring.ReasonBadAttributes},
		{name: "profile attribute value of 257 bytes", payload: `{"id":"e-$U","user":"$U","type":"profile","ts":"$TS","props":{"bio":"` + strings.Repeat("b", 257) + `"}}`, reason: scoring.ReasonBadAttributes},
		{name: "tag_add without tags", payload: `{"id":"e-$U","user":"$U","type":"tag_add","ts":"$TS"}`, reason: scoring.ReasonBadTags},
		{name: "tag_add with a bad tag", payload: `{"id":"e-$U","user":"$U","type":"tag_add","ts":"$TS","props":{"tags":["VIP!"]}}`, reason: scoring.ReasonBadTags},
		{name: "tag_remove with tags not a list", payload: `{"id":"e-$U","user":"$U","type":"tag_remove","ts":"$TS","props":{"tags":"vip"}}`, reason: scoring.ReasonBadTags},

		// Bad input for users that exist: it must not change their state.
		{name: "known user: purchase of 1e13", user: "ok00", payload: `{"id":"x-$U","user":"$U","type":"purchase","ts":"$TS","amount":1e13}`, reason: scoring.ReasonAbsurdAmount, known: true},
		{name: "known user: future whale purchase", user: "ok01", payload: `{"id":"x-$U","user":"$U","type":"purchase","ts":"` + dlFuture + `","amount":60000}`, reason: scoring.ReasonFutureTS, known: true},
		{name: "known user: whale purchase with extra field", user: "ok03", payload: `{"id":"x-$U","user":"$U","type":"purchase","ts":"$TS","amount":60000,"coupon":"c"}`, reason: scoring.ReasonUnknownField, known: true},
		{name: "known user: duplicate amount", user: "ok05", payload: `{"id":"x-$U","user":"$U","type":"purchase","ts":"$TS","amount":1,"amount":60000}`, reason: scoring.ReasonDuplicateField, known: true},
		{name: "known user: replayed id with trailing data", user: "ok06", payload: `{"id":"e-$U","user":"$U","type":"purchase","ts":"$TS","amount":60000}}`, reason: scoring.ReasonTrailingData, known: true},
	}
	for i := range rows {
		if rows[i].user == "" {
			rows[i].user = fmt.Sprintf("dl%02d", i)
		}
		rows[i].payload = strings.NewReplacer("$U", rows[i].user, "$TS", dlTS).Replace(rows[i].payload)
	}
	return rows
}

// dlValid is one valid event of the run, for user ok<index>.
type dlValid struct {
	user     string
	payload  string
	value    string  // value tier it must place the user in
	monetary float64 // monetary_365d afterwards
}

// dlValidEvents returns n valid events; the first ones sit exactly on the
// decoder's limits (each limit's bad twin is in dlBadInputs).
func dlValidEvents(n int) []dlValid {
	out := make([]dlValid, n)
	for i := range out {
		u := fmt.Sprintf("ok%02d", i)
		base := `{"id":"e-` + u + `","user":"` + u + `","ts":"` + dlTS + `",`
		v := dlValid{user: u, value: "none"}
		switch i {
		case 0:
			v.payload, v.value, v.monetary = base+`"type":"purchase","amount":100}`, "long_tail", 100
		case 1:
			v.payload = base + `"type":"login"}`
		case 2:
			v.payload, v.monetary = base+`"type":"refund","amount":50}`, -50
		case 3:
			v.payload, v.value, v.monetary = base+`"type":"purchase","amount":20000}`, "high_potential", 20000
		case 4: // amount exactly at the 1e12 limit
			v.payload, v.value, v.monetary = base+`"type":"purchase","amount":1000000000000}`, "whale", 1e12
		case 5: // id of exactly 128 bytes
			v.payload = `{"id":"` + strings.Repeat("i", 128) + `","user":"` + u + `","type":"login","ts":"` + dlTS + `"}`
		case 6: // type of exactly 64 bytes (unknown type, default weight)
			v.payload = base + `"type":"` + strings.Repeat("t", 64) + `"}`
		case 7: // ts exactly 5 minutes ahead of the clock
			v.payload = `{"id":"e-` + u + `","user":"` + u + `","type":"login","ts":"` + t0.Add(5*time.Minute).Format(time.RFC3339) + `"}`
		case 8: // ts exactly 400 days old, in milliseconds
			v.payload = `{"id":"e-` + u + `","user":"` + u + `","type":"view","ts":` + dlOldest + `}`
		case 9: // props nested exactly 8 levels
			v.payload = base + `"type":"interaction","props":` + dlNest(8) + `}`
		case 10: // payload of exactly 64 KiB
			v.payload = dlPadded(u, 65536)
		case 11: // ts in milliseconds
			v.payload = `{"id":"e-` + u + `","user":"` + u + `","type":"purchase","amount":60000,"ts":` +
				strconv.FormatInt(t0.Add(-time.Hour).UnixMilli(), 10) + `}`
			v.value, v.monetary = "whale", 60000
		case 12: // amount with an exponent, white space around tokens
			v.payload = " {\n \"id\" : \"e-" + u + "\" , \"user\":\"" + u + "\",\"type\":\"purchase\",\"ts\":\"" + dlTS + "\",\"amount\":1.5e3 }\n"
			v.value, v.monetary = "long_tail", 1500
		case 13: // non-ASCII (not control) id
			v.payload = `{"id":"é-` + u + `","user":"` + u + `","type":"login","ts":"` + dlTS + `"}`
		default:
			if i%2 == 0 {
				v.payload, v.value, v.monetary = base+fmt.Sprintf(`"type":"purchase","amount":%d}`, 100+i), "long_tail", float64(100+i)
			} else {
				v.payload = base + `"type":"task","props":{"k":"v"}}`
			}
		}
		out[i] = v
	}
	return out
}

// dlSend publishes through JetStream (returning the stream sequence) or, when
// core is set, through plain core NATS (returning 0): STRATA_EVENTS captures both.
func dlSend(t *testing.T, h *harness, user string, data []byte, core bool) uint64 {
	t.Helper()
	if core {
		if err := h.nc.Publish(cluster.EventsPrefix+user, data); err != nil {
			t.Fatalf("core publish for %s: %v", user, err)
		}
		if err := h.nc.Flush(); err != nil {
			t.Fatalf("flush: %v", err)
		}
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ack, err := h.js.Publish(ctx, cluster.EventsPrefix+user, data)
	if err != nil {
		t.Fatalf("publish for %s: %v", user, err)
	}
	return ack.Sequence
}

// dlUserOnShard returns a user name with the given prefix that maps to shard.
func dlUserOnShard(prefix string, shard, shards int) string {
	for i := 0; ; i++ {
		if u := fmt.Sprintf("%s%d", prefix, i); cluster.ShardOf(u, shards) == shard {
			return u
		}
	}
}

// dlTail publishes one valid login per shard and waits until each is
// applied, so every shard's replicated cursor is past everything sent before.
func dlTail(t *testing.T, h *harness, prefix string) []string {
	t.Helper()
	shards := h.config().Shards
	users := make([]string, shards)
	for s := range users {
		users[s] = dlUserOnShard(prefix, s, shards)
		dlSend(t, h, users[s], event("e-"+users[s], users[s], "login", t0.Add(-time.Minute), 0), s%2 == 1)
	}
	for _, u := range users {
		h.waitTransition(u, "value", "", "none")
	}
	return users
}

// dlMetric reads strata_events_dead_lettered_total per reason from GET /metrics.
func dlMetric(t *testing.T, h *harness) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + h.node.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	out := map[string]float64{}
	const prefix = `strata_events_dead_lettered_total{reason="`
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		reason, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			t.Fatalf("metrics line %q", sc.Text())
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		out[reason] = f
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// dlAbsent fails unless GET /v1/users/<user> is a 404 with a JSON error (a
// 400 for a name the API refuses outright: longer than scoring.MaxIDLen).
func dlAbsent(t *testing.T, h *harness, user string) {
	t.Helper()
	want := http.StatusNotFound
	if len(user) > scoring.MaxIDLen {
		want = http.StatusBadRequest
	}
	var body map[string]any
	if s := h.getJSON("/v1/users/"+user, &body); s != want || body["error"] == nil {
		t.Errorf("user %.20s… touched only by bad input: status %d body %v, want %d", user, s, body, want)
	}
}

// dlCount returns the number of messages stored in STRATA_DLQ.
func dlCount(t *testing.T, h *harness) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	st, err := h.js.Stream(ctx, cluster.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestDeadLetterTable publishes every kind of bad input, each followed by a
// valid event of another user, through JetStream and core NATS, and checks
// I6: every bad input is dead-lettered once with its reason and its bytes,
// valid traffic is applied in full, and no bad input changes any state —
// also across a restart.
func TestDeadLetterTable(t *testing.T) {
	rows := dlBadInputs()
	valid := dlValidEvents(len(rows))
	bySubject := map[string]int{}
	for i, r := range rows {
		subj := cluster.EventsPrefix + r.user
		if j, dup := bySubject[subj]; dup {
			t.Fatalf("rows %q and %q share subject %s", rows[j].name, r.name, subj)
		}
		bySubject[subj] = i
	}

	h := newHarness(t)
	dlq := collect(t, h.js, cluster.DLQStream)
	defer func() { dlq.stop() }()

	// Interleave: bad row i, then the valid event of ok<i>. Every fourth bad
	// row and every fifth valid event go through core NATS.
	seqs := make([]uint64, len(rows))
	for i, r := range rows {
		seqs[i] = dlSend(t, h, r.user, []byte(r.payload), i%4 == 3)
		dlSend(t, h, valid[i].user, []byte(valid[i].payload), i%5 == 4)
	}
	tail := dlTail(t, h, "tail")

	// Every bad input reaches STRATA_DLQ.
	msgs := dlq.waitUntil(t, fmt.Sprintf("%d dead letters", len(rows)), func(ms []jetstream.Msg) bool {
		return len(ms) >= len(rows)
	})
	if len(msgs) != len(rows) {
		t.Errorf("STRATA_DLQ holds %d messages, want %d", len(msgs), len(rows))
	}
	got := make([]jetstream.Msg, len(rows))
	seenSeq := map[string]bool{}
	for _, m := range msgs {
		hd := m.Headers()
		i, ok := bySubject[hd.Get(cluster.HeaderSubject)]
		if !ok {
			t.Errorf("dead letter for unexpected subject %q (%s: %s)", hd.Get(cluster.HeaderSubject), hd.Get(cluster.HeaderError), hd.Get(cluster.HeaderDetail))
			continue
		}
		if got[i] != nil {
			t.Errorf("%s: dead-lettered twice", rows[i].name)
		}
		got[i] = m
		if s := hd.Get(cluster.HeaderSeq); seenSeq[s] {
			t.Errorf("%s: Strata-Seq %s seen twice", rows[i].name, s)
		} else {
			seenSeq[s] = true
		}
	}
	for i, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			m := got[i]
			if m == nil {
				t.Fatalf("no dead letter (want reason %s)", r.reason)
			}
			hd := m.Headers()
			if m.Subject() != cluster.DLQPrefix+r.reason {
				t.Errorf("subject %q, want %q (detail %q)", m.Subject(), cluster.DLQPrefix+r.reason, hd.Get(cluster.HeaderDetail))
			}
			if e := hd.Get(cluster.HeaderError); e != r.reason {
				t.Errorf("%s = %q, want %q (detail %q)", cluster.HeaderError, e, r.reason, hd.Get(cluster.HeaderDetail))
			}
			if d := hd.Get(cluster.HeaderDetail); d == "" || len(d) > 512 {
				t.Errorf("%s = %q, want 1–512 bytes", cluster.HeaderDetail, d)
			}
			seq, err := strconv.ParseUint(hd.Get(cluster.HeaderSeq), 10, 64)
			if err != nil || seq == 0 {
				t.Errorf("%s = %q", cluster.HeaderSeq, hd.Get(cluster.HeaderSeq))
			}
			if seqs[i] != 0 && seq != seqs[i] {
				t.Errorf("%s = %d, want the publish ack's sequence %d", cluster.HeaderSeq, seq, seqs[i])
			}
			if id := hd.Get(jetstream.MsgIDHeader); id != "dlq:"+strconv.FormatUint(seq, 10) {
				t.Errorf("%s = %q, want dlq:%d", jetstream.MsgIDHeader, id, seq)
			}
			if !bytes.Equal(m.Data(), []byte(r.payload)) {
				t.Errorf("data differs from what was sent: got %d bytes %.80q, sent %d bytes %.80q",
					len(m.Data()), m.Data(), len(r.payload), r.payload)
			}
		})
	}

	// Every valid event was applied once, and the bad input aimed at some of
	// these users changed nothing.
	for _, v := range valid {
		h.waitTransition(v.user, "value", "", v.value)
	}
	checkValid := func() {
		t.Helper()
		for _, v := range valid {
			u := h.user(v.user)
			if u.Events != 1 || u.Tiers["value"] != v.value || u.Scores.Monetary365d != v.monetary {
				t.Errorf("%s: events %d, value %q, monetary %v; want 1, %q, %v", v.user, u.Events, u.Tiers["value"], u.Scores.Monetary365d, v.value, v.monetary)
			}
			if p := h.path(v.user, "value"); len(p) != 1 {
				t.Errorf("%s: %d value transitions %+v, want only the first placement", v.user, len(p), p)
			}
		}
	}
	checkValid()

	// Users seen only in bad input have no state; tier counts hold only valid users.
	for _, r := range rows {
		if !r.known {
			dlAbsent(t, h, r.user)
		}
		for _, u := range r.absent {
			dlAbsent(t, h, u)
		}
	}
	var tiers node.TiersResponse
	if s := h.getJSON("/v1/tiers", &tiers); s != http.StatusOK {
		t.Fatalf("GET /v1/tiers: %d", s)
	}
	var total int64
	for _, n := range tiers.Tiers["value"] {
		total += n
	}
	if want := int64(len(valid) + len(tail)); total != want {
		t.Errorf("value tier counts %v sum to %d users, want %d", tiers.Tiers["value"], total, want)
	}

	// The metric counts the dead letters by reason.
	want := map[string]float64{}
	for _, r := range rows {
		want[r.reason]++
	}
	have := dlMetric(t, h)
	for reason, n := range want {
		if have[reason] != n {
			t.Errorf("strata_events_dead_lettered_total{reason=%q} = %v, want %v", reason, have[reason], n)
		}
	}
	for reason, n := range have {
		if _, ok := want[reason]; !ok && n != 0 {
			t.Errorf("strata_events_dead_lettered_total{reason=%q} = %v, want 0", reason, n)
		}
	}

	// Restart: nothing is dead-lettered again, nothing changes, ingest goes on.
	dlq.stop()
	h.restart()
	dlq = collect(t, h.js, cluster.DLQStream)
	dlTail(t, h, "after")
	if n := dlCount(t, h); n != uint64(len(rows)) {
		t.Errorf("after restart STRATA_DLQ holds %d messages, want %d", n, len(rows))
	}
	again := dlq.waitUntil(t, "dead letters after restart", func(ms []jetstream.Msg) bool { return len(ms) >= len(rows) })
	if len(again) != len(rows) {
		t.Errorf("after restart the DLQ collector saw %d messages, want %d", len(again), len(rows))
	}
	for reason, n := range dlMetric(t, h) {
		if n != 0 {
			t.Errorf("after restart strata_events_dead_lettered_total{reason=%q} = %v: input dead-lettered again", reason, n)
		}
	}
	checkValid()
	for _, r := range rows {
		if !r.known {
			dlAbsent(t, h, r.user)
		}
	}
	h.checkSeqs()
	t.Logf("%d bad inputs over %d reasons dead-lettered once each; %d valid events applied", len(rows), len(want), len(valid)+2*len(tail))
}

// TestDeadLetterUserMismatch: a well-formed event on strata.events.u1 that
// names user u2 is dead-lettered as user_mismatch, and neither user gets
// state; u1's own events still apply.
func TestDeadLetterUserMismatch(t *testing.T) {
	h := newHarness(t)
	dlq := collect(t, h.js, cluster.DLQStream)
	defer dlq.stop()

	bad := event("e1", "u2", "purchase", t0.Add(-time.Hour), 60000)
	seq := dlSend(t, h, "u1", bad, false)
	h.publish("u3", event("e3", "u3", "login", t0.Add(-time.Hour), 0))

	msgs := dlq.waitUntil(t, "the user_mismatch dead letter", func(ms []jetstream.Msg) bool { return len(ms) >= 1 })
	m := msgs[0]
	hd := m.Headers()
	if m.Subject() != cluster.DLQPrefix+scoring.ReasonUserMismatch || hd.Get(cluster.HeaderError) != scoring.ReasonUserMismatch {
		t.Errorf("dead letter on %q with %s %q (%s), want %s", m.Subject(), cluster.HeaderError, hd.Get(cluster.HeaderError),
			hd.Get(cluster.HeaderDetail), scoring.ReasonUserMismatch)
	}
	if hd.Get(cluster.HeaderSubject) != cluster.EventsPrefix+"u1" || hd.Get(cluster.HeaderSeq) != strconv.FormatUint(seq, 10) ||
		hd.Get(cluster.HeaderDetail) == "" || !bytes.Equal(m.Data(), bad) {
		t.Errorf("dead letter headers %v data %q, want subject strata.events.u1, seq %d, the sent bytes %q", hd, m.Data(), seq, bad)
	}

	h.waitTransition("u3", "value", "", "none")
	dlAbsent(t, h, "u1")
	dlAbsent(t, h, "u2")

	h.publish("u1", event("e1", "u1", "purchase", t0.Add(-time.Hour), 60000))
	h.waitTransition("u1", "value", "", "whale")
	if v := h.user("u1"); v.Events != 1 || v.Scores.Monetary365d != 60000 {
		t.Errorf("u1 after its own valid event: %+v", v)
	}
	dlAbsent(t, h, "u2")
	if n := dlCount(t, h); n != 1 {
		t.Errorf("STRATA_DLQ holds %d messages, want 1", n)
	}
}
