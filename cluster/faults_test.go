package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestFaultsBlocked(t *testing.T) {
	type link struct {
		a, b string
		want bool
	}
	for _, tc := range []struct {
		name  string
		setup func(f *Faults)
		links []link
	}{
		{"none", func(*Faults) {}, []link{{"a", "b", false}}},
		{"cut", func(f *Faults) { f.Cut("a", "b") }, []link{
			{"a", "b", true}, {"b", "a", true}, {"a", "c", false}, {"a", "a", false},
		}},
		{"isolate", func(f *Faults) { f.Isolate("a") }, []link{
			{"a", "b", true}, {"c", "a", true}, {"b", "c", false}, {"a", "a", false},
		}},
		{"partition", func(f *Faults) { f.Partition([]string{"a"}, []string{"b", "c"}) }, []link{
			{"a", "b", true}, {"c", "a", true}, {"b", "c", false}, {"a", "x", false}, {"x", "b", false},
		}},
		{"partition replaced", func(f *Faults) {
			f.Partition([]string{"a"}, []string{"b"})
			f.Partition([]string{"a", "b"}, []string{"c"})
		}, []link{{"a", "b", false}, {"a", "c", true}}},
		{"partition removed", func(f *Faults) {
			f.Partition([]string{"a"}, []string{"b"})
			f.Partition()
		}, []link{{"a", "b", false}}},
		{"heal", func(f *Faults) {
			f.Cut("a", "b")
			f.Isolate("c")
			f.Partition([]string{"d"}, []string{"e"})
			f.Heal()
		}, []link{{"a", "b", false}, {"c", "a", false}, {"d", "e", false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFaults(1)
			tc.setup(f)
			for _, l := range tc.links {
				if got := f.Blocked(l.a, l.b); got != l.want {
					t.Errorf("Blocked(%q, %q) = %v, want %v", l.a, l.b, got, l.want)
				}
			}
		})
	}
}

func TestFaultsDeterministic(t *testing.T) {
	draws := func(seed int64) string {
		f := NewFaults(seed)
		f.SetDrop(0.5)
		f.SetDelay(time.Millisecond, time.Millisecond)
		var b []byte
		for range 64 {
			d := byte('0')
			if f.dropDial() {
				d = '1'
			}
			b = append(b, d)
			b = fmt.Appendf(b, "%d,", f.writeDelay())
		}
		return string(b)
	}
	if a, b := draws(7), draws(7); a != b {
		t.Fatalf("same seed, different draws:\n%s\n%s", a, b)
	}
	if a, b := draws(7), draws(8); a == b {
		t.Fatal("different seeds, same draws")
	}
	f := NewFaults(1)
	for range 100 {
		if f.dropDial() {
			t.Fatal("a dial dropped with no drop rate set")
		}
	}
}

// faultNodes starts muxes sharing f that know each other's addresses (PeerID)
// and echo RPCs.
func faultNodes(t *testing.T, f *Faults, ids ...string) (map[string]*Mux, map[string]*echoHandler) {
	t.Helper()
	addrs := map[string]string{}
	peerID := func(addr string) string { return addrs[addr] }
	muxes, echoes := map[string]*Mux{}, map[string]*echoHandler{}
	for _, id := range ids {
		m := newTestMux(t, MuxConfig{NodeID: id, Faults: f, PeerID: peerID})
		e := newEchoHandler()
		m.Handle(e.handle)
		muxes[id], echoes[id] = m, e
	}
	for id, m := range muxes { // before any call: PeerID reads addrs without a lock
		addrs[m.Addr().String()] = id
	}
	return muxes, echoes
}

func TestFaultsBlockRPC(t *testing.T) {
	f := NewFaults(1)
	muxes, echoes := faultNodes(t, f, "n1", "n2", "n3")
	ctx := context.Background()
	call := func(from, to string) error {
		_, err := muxes[from].Call(ctx, muxes[to].Addr().String(), []byte("x"))
		return err
	}
	check := func(t *testing.T, blocked ...[2]string) {
		t.Helper()
		isBlocked := map[[2]string]bool{}
		for _, b := range blocked {
			isBlocked[b], isBlocked[[2]string{b[1], b[0]}] = true, true
		}
		for _, from := range []string{"n1", "n2", "n3"} {
			for _, to := range []string{"n1", "n2", "n3"} {
				err := call(from, to)
				switch {
				case isBlocked[[2]string{from, to}] && !errors.Is(err, ErrLinkDown):
					t.Errorf("%s -> %s: %v, want ErrLinkDown", from, to, err)
				case !isBlocked[[2]string{from, to}] && err != nil:
					t.Errorf("%s -> %s: %v", from, to, err)
				}
			}
		}
	}
	check(t) // pools a connection on every link
	f.Cut("n1", "n2")
	check(t, [2]string{"n1", "n2"})
	f.Heal()
	check(t)
	f.Partition([]string{"n1"}, []string{"n2", "n3"})
	check(t, [2]string{"n1", "n2"}, [2]string{"n1", "n3"})
	f.Heal()
	f.Isolate("n3")
	check(t, [2]string{"n1", "n3"}, [2]string{"n2", "n3"})
	f.Heal()
	check(t)

	// A call in flight on an open connection fails as soon as its link is cut.
	done := make(chan error, 1)
	go func() {
		_, err := muxes["n1"].Call(ctx, muxes["n2"].Addr().String(), []byte("block"))
		done <- err
	}()
	<-echoes["n2"].started
	f.Cut("n1", "n2")
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a call across a cut link succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a call in flight across a cut link did not fail")
	}
	close(echoes["n2"].release)
}

func TestFaultsDropAndDelay(t *testing.T) {
	f := NewFaults(3)
	muxes, _ := faultNodes(t, f, "n1", "n2")
	to := muxes["n2"].Addr().String()
	ctx := context.Background()
	f.SetDrop(1)
	for range 3 {
		if _, err := muxes["n1"].Call(ctx, to, []byte("x")); !errors.Is(err, ErrLinkDown) {
			t.Fatalf("Call with every packet dropped: %v, want ErrLinkDown", err)
		}
	}
	f.SetDrop(0)
	if _, err := muxes["n1"].Call(ctx, to, []byte("x")); err != nil {
		t.Fatal(err)
	}
	const delay = 100 * time.Millisecond
	f.SetDelay(delay, 0)
	start := time.Now()
	if _, err := muxes["n1"].Call(ctx, to, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 2*delay { // the request and the response
		t.Fatalf("Call took %v with a %v delay on each write", took, delay)
	}
	dctx, cancel := context.WithTimeout(ctx, delay/2)
	defer cancel()
	if _, err := muxes["n1"].Call(dctx, to, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call shorter than the delay: %v, want DeadlineExceeded", err)
	}
	f.Heal()
	if _, err := muxes["n1"].Call(ctx, to, []byte("x")); err != nil {
		t.Fatal(err)
	}
}

// Isolating a group's leader elects another; healing brings it back up to date.
func TestFaultsIsolateLeader(t *testing.T) {
	f := NewFaults(1)
	cfgs := muxPlainCfgs("n1", "n2", "n3")
	for i := range cfgs {
		cfgs[i].Faults = f
	}
	const g = 1
	c := startMuxCluster(t, []uint16{g, 2}, cfgs...)
	c.converge(t, g, c.apply(t, g, 5, ""))
	old := c.leader(t, g, "")
	oldCount := old.fsms[g].n.Load()

	f.Isolate(old.id)
	want := c.apply(t, g, 5, old.id) // through a new leader among the other two
	if got := old.fsms[g].n.Load(); got != oldCount {
		t.Fatalf("the isolated node applied %d entries, had %d", got, oldCount)
	}
	if want < oldCount+5 {
		t.Fatalf("the new leader applied %d entries, want at least %d", want, oldCount+5)
	}

	f.Heal()
	c.converge(t, g, want)
	c.converge(t, g, c.apply(t, g, 3, "")) // the group still works, whoever leads
}
