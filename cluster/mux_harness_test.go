package cluster

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Helpers of the mux and fault tests: muxes on loopback, and clusters of them
// running real hashicorp/raft groups over NetworkTransports.

// muxWait polls cond until it holds or d passes.
func muxWait(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

// newTestMux starts a Mux on 127.0.0.1:0 (unless cfg has a listener), closed
// at the end of the test.
func newTestMux(t testing.TB, cfg MuxConfig) *Mux {
	t.Helper()
	if cfg.Listener == nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listener = ln
	}
	m, err := NewMux(cfg)
	if err != nil {
		_ = cfg.Listener.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close mux %s: %v", cfg.NodeID, err)
		}
	})
	return m
}

// countingFSM counts applied entries.
type countingFSM struct{ n atomic.Int64 }

func (f *countingFSM) Apply(*raft.Log) any { return f.n.Add(1) }
func (f *countingFSM) Snapshot() (raft.FSMSnapshot, error) {
	return countingSnap(f.n.Load()), nil
}
func (f *countingFSM) Restore(rc io.ReadCloser) error {
	defer func() { _ = rc.Close() }()
	var b [8]byte
	if _, err := io.ReadFull(rc, b[:]); err != nil {
		return err
	}
	f.n.Store(int64(binary.BigEndian.Uint64(b[:])))
	return nil
}

type countingSnap int64

func (s countingSnap) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(binary.BigEndian.AppendUint64(nil, uint64(s))); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}
func (countingSnap) Release() {}

// muxNode is one node of a muxCluster: a Mux and one Raft per group.
type muxNode struct {
	id    string
	mux   *Mux
	rafts map[uint16]*raft.Raft
	fsms  map[uint16]*countingFSM
	trans map[uint16]*raft.NetworkTransport
}

type muxCluster struct{ nodes []*muxNode }

// startMuxCluster starts one node per configuration, each running every group
// over its Mux, and bootstraps each group with all the nodes as voters.
func startMuxCluster(t *testing.T, groups []uint16, cfgs ...MuxConfig) *muxCluster {
	t.Helper()
	c := &muxCluster{}
	var servers []raft.Server
	for _, cfg := range cfgs {
		n := &muxNode{id: cfg.NodeID, mux: newTestMux(t, cfg), rafts: map[uint16]*raft.Raft{},
			fsms: map[uint16]*countingFSM{}, trans: map[uint16]*raft.NetworkTransport{}}
		c.nodes = append(c.nodes, n)
		servers = append(servers, raft.Server{ID: raft.ServerID(n.id), Address: raft.ServerAddress(n.mux.Addr().String())})
	}
	for _, n := range c.nodes {
		for _, g := range groups {
			layer, err := n.mux.Stream(g)
			if err != nil {
				t.Fatal(err)
			}
			trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
				Stream: layer, MaxPool: 3, Timeout: 2 * time.Second, Logger: hclog.NewNullLogger(),
			})
			rc := raft.DefaultConfig()
			rc.LocalID = raft.ServerID(n.id)
			rc.HeartbeatTimeout = 250 * time.Millisecond
			rc.ElectionTimeout = 250 * time.Millisecond
			rc.LeaderLeaseTimeout = 150 * time.Millisecond
			rc.CommitTimeout = 5 * time.Millisecond
			rc.Logger = hclog.NewNullLogger()
			store := raft.NewInmemStore()
			fsm := &countingFSM{}
			r, err := raft.NewRaft(rc, fsm, store, store, raft.NewInmemSnapshotStore(), trans)
			if err != nil {
				_ = trans.Close()
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := r.Shutdown().Error(); err != nil {
					t.Errorf("raft %s/%d shutdown: %v", n.id, g, err)
				}
				_ = trans.Close()
			})
			if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
				t.Fatal(err)
			}
			n.rafts[g], n.fsms[g], n.trans[g] = r, fsm, trans
		}
	}
	return c
}

// leader waits for a node other than exclude to lead group g.
func (c *muxCluster) leader(t *testing.T, g uint16, exclude string) *muxNode {
	t.Helper()
	var l *muxNode
	muxWait(t, 20*time.Second, fmt.Sprintf("a leader of group %d (not %q)", g, exclude), func() bool {
		for _, n := range c.nodes {
			if n.id != exclude && n.rafts[g].State() == raft.Leader {
				l = n
				return true
			}
		}
		return false
	})
	return l
}

// apply commits count entries to group g through a leader other than
// exclude and returns the leader's FSM count once they are applied.
func (c *muxCluster) apply(t *testing.T, g uint16, count int, exclude string) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	l := c.leader(t, g, exclude)
	for done := 0; done < count; {
		if err := l.rafts[g].Apply([]byte{1}, 2*time.Second).Error(); err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("apply to group %d: %v", g, err)
			}
			l = c.leader(t, g, exclude) // leadership moved: an ambiguous entry may still commit
			continue
		}
		done++
	}
	if err := l.rafts[g].Barrier(5 * time.Second).Error(); err != nil {
		t.Fatalf("barrier on group %d: %v", g, err)
	}
	return l.fsms[g].n.Load()
}

// converge waits until every node's FSM of group g has applied want entries.
func (c *muxCluster) converge(t *testing.T, g uint16, want int64) {
	t.Helper()
	muxWait(t, 20*time.Second, fmt.Sprintf("group %d to reach %d on every node", g, want), func() bool {
		for _, n := range c.nodes {
			if n.fsms[g].n.Load() != want {
				return false
			}
		}
		return true
	})
}
