package node_test

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
)

// The test binary doubles as `strata serve` when STRATA_TEST_SERVE_DIR is set,
// so the kill test runs a real separate process without building the binary.
func TestMain(m *testing.M) {
	if dir := os.Getenv("STRATA_TEST_SERVE_DIR"); dir != "" {
		os.Exit(serveForTest(dir))
	}
	goleak.VerifyTestMain(m)
}

func serveForTest(dir string) int {
	cfg := node.DefaultConfig()
	cfg.DataDir = dir
	cfg.HTTPAddr = os.Getenv("STRATA_TEST_HTTP")
	cfg.NATSListen = os.Getenv("STRATA_TEST_NATS")
	cfg.NATSURL = os.Getenv("STRATA_TEST_NATS_URL") // multi-process cluster: one shared server
	cfg.RaftAddr = cmp.Or(os.Getenv("STRATA_TEST_RAFT"), "127.0.0.1:0")
	cfg.NodeID = cmp.Or(os.Getenv("STRATA_TEST_NODE"), cfg.NodeID)
	if j := os.Getenv("STRATA_TEST_JOIN"); j != "" {
		cfg.Join = []string{j}
	}
	cfg.ReplaceAfter = time.Minute
	cfg.Cluster.DownAfter = time.Second
	cfg.Shards = 4
	cfg.LogLevel = cmp.Or(os.Getenv("STRATA_TEST_LOG"), "warn")
	cfg.Cluster.ElectionTimeout = 100 * time.Millisecond
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	n, err := node.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	if n.Close() != nil {
		return 1
	}
	return 0
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a Strata node in a child process.
type proc struct {
	t               *testing.T
	dir, http, nats string
	env             []string // extra STRATA_TEST_* settings (cluster members)
	cmd             *exec.Cmd
}

func (p *proc) start() {
	p.t.Helper()
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), "STRATA_TEST_SERVE_DIR="+p.dir, "STRATA_TEST_HTTP="+p.http, "STRATA_TEST_NATS="+p.nats)
	p.cmd.Env = append(p.cmd.Env, p.env...)
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	eventually(p.t, "child process ready", func() bool {
		resp, err := http.Get("http://" + p.http + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// user reads a user from the child (zero view while unknown or unreachable).
func (p *proc) user(id string) cluster.UserView {
	var v cluster.UserView
	if resp, err := http.Get("http://" + p.http + "/v1/users/" + id); err == nil {
		_ = decodeBody(resp, &v)
	}
	return v
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// SIGKILL while events stream in: after a restart every acknowledged event is
// counted exactly once and every transition is published exactly once, in order.
func TestKillMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	p := &proc{t: t, dir: t.TempDir(), http: freePort(t), nats: freePort(t)}
	p.start()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			_ = p.cmd.Wait()
		}
	})
	nc, err := nats.Connect("nats://"+p.nats, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// Events stamped relative to now: the child runs on the wall clock.
	l := newLoad(50, 40)
	now := time.Now().UTC()
	for i := range l.data {
		l.data[i] = event(l.ids[i], l.usr[i], "view", now.Add(-time.Duration(i)*time.Second), 0)
		if i%5 == 0 {
			l.data[i] = event(l.ids[i], l.usr[i], "purchase", now.Add(-time.Duration(i)*time.Second), float64(500+i))
		}
	}
	reached := make(chan struct{})
	done := make(chan map[int]bool)
	go func() { done <- publishAll(js, l, 0, len(l.data), len(l.data)/3, reached) }()
	<-reached
	p.kill()
	acked := <-done
	p.start()

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for i := range l.data {
		if !acked[i] || i%7 == 0 { // retry the unacknowledged; resend some acknowledged
			if _, err := js.Publish(ctx, cluster.EventsPrefix+l.usr[i], l.data[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	h := &harness{t: t, js: js}
	for u := range l.users {
		id := fmt.Sprintf("r%d", u)
		eventually(t, id+" to have all its events", func() bool {
			n := p.user(id).Events
			if n > uint64(l.perUser) {
				t.Fatalf("%s counted %d events, sent %d distinct", id, n, l.perUser)
			}
			return n == uint64(l.perUser)
		})
	}
	h.trans = collect(t, js, cluster.TransitionsStream)
	defer h.trans.stop()
	h.node = nil
	views := map[string]map[string]string{}
	for u := range l.users {
		id := fmt.Sprintf("r%d", u)
		views[id] = p.user(id).Tiers
	}
	h.trans.waitUntil(t, "published transitions to match state", func(msgs []jetstream.Msg) bool {
		last := checkSeqs(t, msgs)
		for id, tiers := range views {
			for dim, tier := range tiers {
				if last[userDim{id, dim}].To != tier {
					return false
				}
			}
		}
		return true
	})
	t.Logf("%d events, %d acknowledged before SIGKILL, %d transitions", len(l.data), len(acked), h.checkSeqs())
}
