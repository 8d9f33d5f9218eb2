package node_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
)

// soak runs TestClusterProcessSoak for this long (0: skipped). The
// documented soak: go test ./node -run TestClusterProcessSoak -strata.soak=5m -v
var soak = flag.Duration("strata.soak", 0, "run the multi-process fault soak for this long")

// procCluster is 3 `strata serve` child processes on loopback sharing one
// NATS server that runs in the test process.
type procCluster struct {
	t     *testing.T
	ns    *server.Server
	procs map[string]*proc
	ids   []string
	nc    *nats.Conn
	js    jetstream.JetStream

	lastErr error // of the last strong read (diagnostics)
}

func newProcCluster(t *testing.T) *procCluster {
	ns := startNATS(t, &server.Options{SyncInterval: time.Second})
	var err error
	pc := &procCluster{t: t, ns: ns, procs: map[string]*proc{}}
	raft := map[string]string{}
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("n%d", i)
		raft[id] = freePort(t)
		p := &proc{t: t, dir: t.TempDir(), http: freePort(t), nats: "",
			env: []string{"STRATA_TEST_NODE=" + id, "STRATA_TEST_RAFT=" + raft[id], "STRATA_TEST_NATS_URL=" + ns.ClientURL()}}
		if i > 1 {
			p.env = append(p.env, "STRATA_TEST_JOIN="+raft["n1"])
		}
		pc.procs[id] = p
		pc.ids = append(pc.ids, id)
		p.start()
	}
	t.Cleanup(func() {
		for _, p := range pc.procs {
			if p.cmd.ProcessState == nil {
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
				_ = p.cmd.Wait()
			}
		}
	})
	if pc.nc, err = nats.Connect(ns.ClientURL()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pc.nc.Close)
	if pc.js, err = jetstream.New(pc.nc, jetstream.WithPublishAsyncTimeout(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	pc.waitSettled()
	return pc
}

// status asks the running members, in turn, for GET /v1/cluster.
func (pc *procCluster) status() (*cluster.Status, error) {
	var last error
	for _, id := range pc.ids {
		p := pc.procs[id]
		if p.cmd.ProcessState != nil {
			continue
		}
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get("http://" + p.http + "/v1/cluster")
		if err != nil {
			last = err
			continue
		}
		var st cluster.Status
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK {
			return &st, nil
		}
		last = fmt.Errorf("%s: %d %v", id, resp.StatusCode, err)
	}
	return nil, last
}

func (pc *procCluster) waitSettled() *cluster.Status {
	var st *cluster.Status
	eventually(pc.t, "3-process cluster settled", func() bool {
		var err error
		st, err = pc.status()
		return err == nil && settled(st, 3, false) == nil
	})
	return st
}

// strongUser reads a user with a strong read via node id.
func (pc *procCluster) strongUser(id, user string) (cluster.UserView, bool) {
	var v cluster.UserView
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + pc.procs[id].http + "/v1/users/" + user + "?consistency=strong")
	if err != nil {
		pc.lastErr = err
		return v, false
	}
	err = decodeBody(resp, &v)
	pc.lastErr = fmt.Errorf("status %d, %d events, %v", resp.StatusCode, v.Events, err)
	return v, err == nil && resp.StatusCode == http.StatusOK
}

// strongEvents reads a user's event count with a strong read via node id.
func (pc *procCluster) strongEvents(id, user string) (uint64, bool) {
	v, ok := pc.strongUser(id, user)
	return v.Events, ok
}

// publisher sends events for users round-robin until stopped, retrying
// each until JetStream acknowledges it.
type publisher struct {
	mu    sync.Mutex
	acked map[string]int
	stop  chan struct{}
	done  chan struct{}
}

func (pc *procCluster) publish(users int) *publisher {
	p := &publisher{acked: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		now := time.Now().UTC()
		for i := 0; ; i++ {
			user := fmt.Sprintf("pu%02d", i%users)
			p.mu.Lock()
			k := p.acked[user]
			p.mu.Unlock()
			typ, amount := "view", 0.0
			if k%4 == 0 {
				typ, amount = "purchase", float64(1000*(1+k%17))
			}
			data := event(fmt.Sprintf("%s-%d", user, k), user, typ, now.Add(-time.Duration(i)*time.Millisecond), amount)
			for {
				select {
				case <-p.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := pc.js.Publish(ctx, cluster.EventsPrefix+user, data)
				cancel()
				if err == nil {
					break
				}
			}
			p.mu.Lock()
			p.acked[user] = k + 1
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *publisher) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.acked {
		n += v
	}
	return n
}

func (p *publisher) finish() map[string]int {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked
}

// waitMore waits until n more events were acknowledged.
func (p *publisher) waitMore(t *testing.T, n int) {
	t.Helper()
	target := p.total() + n
	eventually(t, fmt.Sprintf("%d events acknowledged", target), func() bool { return p.total() >= target })
}

// leaderOfMost returns the node leading the most shards.
func leaderOfMost(st *cluster.Status) string {
	n := map[string]int{}
	best := ""
	for _, g := range st.Groups {
		n[g.Leader]++
		if best == "" || n[g.Leader] > n[best] {
			best = g.Leader
		}
	}
	return best
}

// verify checks every invariant through the public APIs once healed:
// counts on every node (I1/I2), transitions once and in order and matching
// each user's state (I3).
func (pc *procCluster) verify(acked map[string]int) {
	t := pc.t
	t.Helper()
	pc.waitSettled()
	views := map[string]map[string]string{}
	dbg := 0
	for user, n := range acked {
		for _, id := range pc.ids {
			eventually(t, fmt.Sprintf("%s on %s to have %d events", user, id, n), func() bool {
				got, ok := pc.strongEvents(id, user)
				if ok && got > uint64(n) {
					t.Fatalf("%s counted %d events on %s, sent %d distinct (I2)", user, got, id, n)
				}
				if !ok || got != uint64(n) {
					if dbg++; dbg%500 == 1 {
						st, err := pc.status()
						b, _ := json.Marshal(st)
						t.Logf("%s via %s: %v; status %s %v", user, id, pc.lastErr, b, err)
						pc.dumpConsumers()
					}
				}
				return ok && got == uint64(n)
			})
		}
		eventually(t, "strong read of "+user, func() bool {
			v, ok := pc.strongUser(pc.ids[0], user)
			views[user] = v.Tiers
			return ok
		})
	}
	trans := collect(t, pc.js, cluster.TransitionsStream)
	defer trans.stop()
	msgs := trans.waitUntil(t, "published transitions to match state", endsAt(t, views))
	total := 0
	for _, n := range acked {
		total += n
	}
	t.Logf("%d events acknowledged, %d transitions, each once and in order", total, len(msgs))
}

// SIGKILL the node leading most shards under load, measure the failover,
// restart it, and check the invariants through the public APIs.
func TestClusterProcessKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	pc := newProcCluster(t)
	pub := pc.publish(16)
	pub.waitMore(t, 300)
	victim := leaderOfMost(pc.waitSettled())
	pc.procs[victim].kill()
	start := time.Now()
	eventually(t, "shards led by survivors", func() bool {
		st, err := pc.status()
		if err != nil {
			return false
		}
		for _, g := range st.Groups {
			if g.Leader == "" || g.Leader == victim {
				return false
			}
		}
		return true
	})
	t.Logf("SIGKILL %s: every shard led by a survivor after %s", victim, time.Since(start).Round(time.Millisecond))
	pub.waitMore(t, 300)
	pc.procs[victim].start()
	pub.waitMore(t, 300)
	pc.verify(pub.finish())
}

// A fault every few seconds for -strata.soak: SIGKILL and restart, SIGSTOP
// and SIGCONT (a paused process), of a random node; then heal and verify.
func TestClusterProcessSoak(t *testing.T) {
	if *soak == 0 {
		t.Skip("run with -strata.soak=5m")
	}
	pc := newProcCluster(t)
	pub := pc.publish(32)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	end := time.Now().Add(*soak)
	for i := 0; time.Now().Before(end); i++ {
		id := pc.ids[rng.IntN(len(pc.ids))]
		p := pc.procs[id]
		if rng.IntN(2) == 0 {
			t.Logf("fault %d: SIGKILL %s", i, id)
			p.kill()
			time.Sleep(time.Duration(1+rng.IntN(4)) * time.Second) // the fault's duration
			p.start()
		} else {
			t.Logf("fault %d: SIGSTOP %s", i, id)
			_ = p.cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(time.Duration(1+rng.IntN(4)) * time.Second) // the fault's duration
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
		}
		pub.waitMore(t, 100)
	}
	pc.verify(pub.finish())
}

func (pc *procCluster) dumpConsumers() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := pc.js.Stream(ctx, cluster.EventsStream)
	if err != nil {
		pc.t.Log(err)
		return
	}
	l := stream.ListConsumers(ctx)
	for ci := range l.Info() {
		pc.t.Logf("consumer %s filter %v delivered %d/%d pending %d waiting %d ackfloor %d created %s", ci.Name, ci.Config.FilterSubjects,
			ci.Delivered.Stream, ci.Delivered.Consumer, ci.NumPending, ci.NumWaiting, ci.AckFloor.Stream, ci.Created.Format("15:04:05.000"))
	}
	si, _ := stream.Info(ctx)
	pc.t.Logf("stream last seq %d msgs %d", si.State.LastSeq, si.State.Msgs)
}
