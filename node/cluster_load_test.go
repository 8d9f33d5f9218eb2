package node_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
)

// load drives a cluster harness: writers publish events per user (retrying
// each until JetStream acknowledges it), readers make strong reads through
// random live nodes. Every operation is recorded for porcupine.
type loadGen struct {
	h     *clusterHarness
	users []string
	start time.Time

	mu     sync.Mutex
	acked  map[string]int // per user: events acknowledged by JetStream
	ops    []porcupine.Operation
	reads  atomic.Int64
	failed atomic.Int64 // strong reads refused (no leader, partition): not recorded

	stop chan struct{}
	wg   sync.WaitGroup
}

type opInput struct {
	user  string
	write bool
	k     int // write: the user's k-th event (1-based)
}

func startLoad(h *clusterHarness, users, readers int) *loadGen {
	l := &loadGen{h: h, start: time.Now(), acked: map[string]int{}, stop: make(chan struct{})}
	for i := range users {
		l.users = append(l.users, fmt.Sprintf("cu%02d", i))
	}
	for w := range 4 {
		l.wg.Add(1)
		go l.write(w, 4)
	}
	for r := range readers {
		l.wg.Add(1)
		go l.read(int64(r))
	}
	return l
}

func (l *loadGen) now() int64 { return int64(time.Since(l.start)) }

// write publishes the events of users w, w+n, … round-robin, ~1 per 2 ms.
func (l *loadGen) write(w, n int) {
	defer l.wg.Done()
	rng := rand.New(rand.NewPCG(uint64(w), 7))
	types := []string{"view", "login", "purchase", "coupon", "refund"}
	for i := 0; ; i++ {
		for u := w; u < len(l.users); u += n {
			select {
			case <-l.stop:
				return
			default:
			}
			user := l.users[u]
			l.mu.Lock()
			seq := l.acked[user]
			l.mu.Unlock()
			typ := types[rng.IntN(len(types))]
			amount := 0.0
			if typ == "purchase" || typ == "refund" {
				amount = float64(1 + rng.IntN(30000))
			}
			data := event(fmt.Sprintf("%s-%d", user, seq), user, typ, t0.Add(-time.Duration(rng.IntN(3600))*time.Second), amount)
			call := l.now()
			for {
				if err := l.h.publish(user, data); err == nil {
					break
				}
				select {
				case <-l.stop:
				default:
				}
			}
			l.mu.Lock()
			l.acked[user] = seq + 1
			l.ops = append(l.ops, porcupine.Operation{Input: opInput{user, true, seq + 1}, Call: call, Return: -1})
			l.mu.Unlock()
			time.Sleep(2 * time.Millisecond) // pacing of the open loop, not a wait for state
		}
	}
}

// read makes strong reads until stopped.
func (l *loadGen) read(seed int64) {
	defer l.wg.Done()
	rng := rand.New(rand.NewPCG(uint64(seed), 11))
	client := &http.Client{Timeout: 3 * time.Second}
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		live := l.h.live()
		if len(live) == 0 {
			continue
		}
		m := live[rng.IntN(len(live))]
		user := l.users[rng.IntN(len(l.users))]
		call := l.now()
		resp, err := client.Get("http://" + m.node.HTTPAddr() + "/v1/users/" + user + "?consistency=strong")
		if err != nil {
			l.failed.Add(1)
			time.Sleep(5 * time.Millisecond) // pacing after a refusal
			continue
		}
		var v cluster.UserView
		ok := resp.StatusCode == http.StatusOK && decodeBody(resp, &v) == nil
		if resp.StatusCode == http.StatusNotFound {
			resp.Body.Close()
			ok, v.Events = true, 0
		} else if !ok {
			resp.Body.Close()
		}
		ret := l.now()
		if !ok {
			l.failed.Add(1)
			time.Sleep(5 * time.Millisecond) // pacing after a refusal
			continue
		}
		l.reads.Add(1)
		l.mu.Lock()
		l.ops = append(l.ops, porcupine.Operation{Input: opInput{user: user}, Output: int(v.Events), Call: call, Return: ret})
		l.mu.Unlock()
	}
}

// snapshot returns the events acknowledged so far, per user.
func (l *loadGen) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.acked))
	for k, v := range l.acked {
		out[k] = v
	}
	return out
}

// finish stops the load and returns the acknowledged counts.
func (l *loadGen) finish() map[string]int {
	close(l.stop)
	l.wg.Wait()
	return l.snapshot()
}

// counterModel: per user, the number of distinct events applied. A write
// takes effect at some point after its publish began (it may still be in
// flight when the history ends); a strong read returns the count. A user's
// events are published one after another and JetStream keeps their order,
// so the k-th write can only follow the (k-1)-th.
var counterModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		for _, op := range history {
			u := op.Input.(opInput).user
			by[u] = append(by[u], op)
		}
		keys := make([]string, 0, len(by))
		for k := range by {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return 0 },
	Step: func(state, input, output any) (bool, any) {
		n := state.(int)
		if in := input.(opInput); in.write {
			return in.k == n+1, n + 1
		}
		return output.(int) == n, n
	},
	DescribeOperation: func(input, output any) string {
		in := input.(opInput)
		if in.write {
			return "write " + in.user
		}
		return fmt.Sprintf("read %s → %v", in.user, output)
	},
}

// checkLinearizable checks the strong reads recorded so far (I4).
func (l *loadGen) checkLinearizable(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	ops := append([]porcupine.Operation(nil), l.ops...)
	l.mu.Unlock()
	// A write takes effect some time after its publish began. Writes of one
	// user are sequential and applied in order, so the k-th write has surely
	// taken effect once a read returned a count ≥ k: its return is bounded by
	// that read's (a read showing more than was written still fails the
	// check, the write's call being later). Writes no read saw stay open to
	// the end. This keeps the search small without constraining it wrongly.
	end := l.now() + 1
	seen := map[string][]int64{} // user → return time of the earliest read seeing ≥ k, by k
	for _, op := range ops {
		in := op.Input.(opInput)
		if in.write {
			continue
		}
		v := op.Output.(int)
		s := seen[in.user]
		for len(s) <= v {
			s = append(s, end)
		}
		for k := 1; k <= v; k++ {
			s[k] = min(s[k], op.Return)
		}
		seen[in.user] = s
	}
	nth := map[string]int{}
	for i := range ops {
		ops[i].ClientId = i
		in := ops[i].Input.(opInput)
		if !in.write {
			continue
		}
		nth[in.user]++
		ops[i].Return = end
		if s := seen[in.user]; nth[in.user] < len(s) {
			ops[i].Return = max(s[nth[in.user]], ops[i].Call+1)
		}
	}
	checkCounterDirect(t, ops)
	res := porcupine.CheckOperationsTimeout(counterModel, ops, 60*time.Second)
	t.Logf("porcupine: %d operations (%d strong reads, %d refused): %s", len(ops), l.reads.Load(), l.failed.Load(), res)
	if res == porcupine.Illegal {
		t.Fatal("strong reads are not linearizable")
	}
	if l.reads.Load() == 0 {
		t.Fatal("no strong read succeeded")
	}
}

// verify waits until the healed cluster has applied every acknowledged
// event and checks I1/I2 (counts through strong reads on every node), I3
// (transitions), I5 (replica state hashes) and the single-node oracle.
func (h *clusterHarness) verify(acked map[string]int) {
	t := h.t
	t.Helper()
	for user, n := range acked {
		for _, m := range h.live() {
			eventually(t, fmt.Sprintf("%s on %s to have %d events", user, m.id, n), func() bool {
				v, code, err := httpUser(m, user, "strong")
				if err == nil && code == http.StatusOK && v.Events > uint64(n) {
					t.Fatalf("%s has %d events, only %d distinct were sent (I2)", user, v.Events, n)
				}
				return err == nil && code == http.StatusOK && v.Events == uint64(n)
			})
		}
	}
	h.checkConverged()
	h.checkOracle(acked)
}

// checkConverged waits until every replica of every shard holds the same
// state (I5): replicas may trail by a few entries, never differ.
func (h *clusterHarness) checkConverged() {
	t := h.t
	t.Helper()
	var last string
	deadline := time.Now().Add(waitFor)
	for {
		last = ""
		hashes := map[int]map[[32]byte][]string{}
		for _, m := range h.live() {
			for _, s := range m.node.Cluster().Shards() {
				sum, err := s.FSM().StateHash()
				if err != nil {
					t.Fatal(err)
				}
				if hashes[int(s.ID())] == nil {
					hashes[int(s.ID())] = map[[32]byte][]string{}
				}
				hashes[int(s.ID())][sum] = append(hashes[int(s.ID())][sum], m.id)
			}
		}
		for shard, by := range hashes {
			n := 0
			for _, ids := range by {
				n += len(ids)
			}
			if len(by) != 1 || n < min(3, len(h.live())) {
				last = fmt.Sprintf("shard %d: %d replicas, %d distinct states %v", shard, n, len(by), by)
			}
		}
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas did not converge: %s", last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkOracle replays STRATA_EVENTS, in stream order, into a fresh single
// node and compares every user's state and transition path with the
// cluster's.
func (h *clusterHarness) checkOracle(acked map[string]int) {
	t := h.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*waitFor)
	defer cancel()
	stream, err := h.js.Stream(ctx, cluster.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	o := newHarness(t)
	defer o.stop()
	var acks []jetstream.PubAckFuture
	for n := uint64(0); n < info.State.Msgs; {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range batch.Messages() {
			f, err := o.js.PublishAsync(cluster.EventsPrefix+lastToken(msg.Subject()), msg.Data())
			if err != nil {
				t.Fatal(err)
			}
			acks = append(acks, f)
			n++
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatalf("oracle publish: %v", err)
		case <-ctx.Done():
			t.Fatal("oracle publish: no ack")
		}
	}
	for user, n := range acked {
		o.waitEvents(user, uint64(n))
		want := o.user(user)
		var got cluster.UserView
		eventually(t, "strong read of "+user, func() bool {
			v, code, err := httpUser(h.live()[0], user, "strong")
			got = v
			return err == nil && code == http.StatusOK
		})
		if !reflect.DeepEqual(got.Tiers, want.Tiers) || !reflect.DeepEqual(got.Scores, want.Scores) || got.Events != want.Events {
			t.Fatalf("%s differs from the single-node oracle:\ncluster %+v\noracle  %+v", user, got, want)
		}
	}
	// Transition paths: once the oracle has published every transition its
	// users' tiers imply, the cluster's streams must end at the same seq and
	// tier for every user and dimension.
	views := map[string]map[string]string{}
	for user := range acked {
		views[user] = o.user(user).Tiers
	}
	omsgs := o.trans.waitUntil(t, "oracle transitions", endsAt(t, views))
	olast := checkSeqs(t, omsgs)
	h.trans.waitUntil(t, "cluster transitions equal to the oracle's", func(msgs []jetstream.Msg) bool {
		last := checkSeqs(t, msgs)
		for k, tm := range olast {
			if c := last[k]; c.Seq != tm.Seq || c.To != tm.To {
				return false
			}
		}
		return len(last) == len(olast)
	})
}

func lastToken(subject string) string {
	for i := len(subject) - 1; i >= 0; i-- {
		if subject[i] == '.' {
			return subject[i+1:]
		}
	}
	return subject
}

// checkCounterDirect checks the same property as counterModel directly
// (reads of a user never go back in real time, never show an event whose
// publish had not begun) and names the first offending pair.
func checkCounterDirect(t *testing.T, ops []porcupine.Operation) {
	t.Helper()
	type read struct {
		call, ret int64
		v         int
	}
	reads := map[string][]read{}
	writes := map[string][]int64{}
	for _, op := range ops {
		in := op.Input.(opInput)
		if in.write {
			writes[in.user] = append(writes[in.user], op.Call)
			continue
		}
		reads[in.user] = append(reads[in.user], read{op.Call, op.Return, op.Output.(int)})
	}
	for user, rs := range reads {
		for _, r := range rs {
			started := 0
			for _, c := range writes[user] {
				if c < r.ret {
					started++
				}
			}
			if r.v > started {
				t.Fatalf("%s: read returned %d events, only %d publishes had begun", user, r.v, started)
			}
			for _, p := range rs {
				if p.ret < r.call && p.v > r.v {
					t.Fatalf("%s: read [%d,%d] saw %d after read [%d,%d] saw %d", user, r.call, r.ret, r.v, p.call, p.ret, p.v)
				}
			}
		}
	}
}

// endsAt is a collector predicate: every user's transitions, checked for
// I3, end at the tiers of views (user → dimension → tier).
func endsAt(t testing.TB, views map[string]map[string]string) func([]jetstream.Msg) bool {
	return func(msgs []jetstream.Msg) bool {
		last := checkSeqs(t, msgs)
		for user, tiers := range views {
			for dim, tier := range tiers {
				if last[userDim{user, dim}].To != tier {
					return false
				}
			}
		}
		return true
	}
}
