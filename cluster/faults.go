package cluster

import (
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Faults injects network faults into the connections of the Muxes that share
// it (MuxConfig.Faults): cut links, partitions, isolated nodes, delay and
// drops. Links are between node IDs, learned from each connection's
// handshake. A cut takes effect at once: the link's open connections are
// closed and new dials across it fail until healed.
//
// Random choices (jitter, drops) come from one generator seeded by NewFaults,
// so a single-threaded sequence of operations is reproducible; with many
// connections the order in which they draw depends on scheduling.
// Safe for concurrent use.
type Faults struct {
	mu struct {
		sync.Mutex
		rng      *rand.Rand
		cuts     map[faultLink]bool
		isolated map[string]bool
		side     map[string]int // partition: node -> side
		delay    time.Duration
		jitter   time.Duration
		drop     float64
		conns    map[*faultConn]struct{}
	}
}

// faultLink is an unordered pair of nodes (a < b).
type faultLink struct{ a, b string }

func linkOf(a, b string) faultLink {
	if b < a {
		a, b = b, a
	}
	return faultLink{a, b}
}

// NewFaults returns a Faults with every link up, seeded for its random choices.
func NewFaults(seed int64) *Faults {
	f := &Faults{}
	f.mu.rng = rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	f.mu.cuts = map[faultLink]bool{}
	f.mu.isolated = map[string]bool{}
	f.mu.side = map[string]int{}
	f.mu.conns = map[*faultConn]struct{}{}
	return f
}

// Partition splits the nodes listed into sides that cannot reach each other;
// nodes not listed are unaffected. It replaces the previous partition (cuts
// and isolations stay); Partition() with no sides removes it.
func (f *Faults) Partition(sides ...[]string) {
	f.mu.Lock()
	f.mu.side = map[string]int{}
	for i, s := range sides {
		for _, n := range s {
			f.mu.side[n] = i
		}
	}
	f.enforceLocked()
}

// Isolate cuts node off from every other node.
func (f *Faults) Isolate(node string) {
	f.mu.Lock()
	f.mu.isolated[node] = true
	f.enforceLocked()
}

// Cut takes down the link between a and b, both directions.
func (f *Faults) Cut(a, b string) {
	f.mu.Lock()
	f.mu.cuts[linkOf(a, b)] = true
	f.enforceLocked()
}

// Heal removes every cut, partition and isolation, and the delay and drop rate.
func (f *Faults) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.cuts = map[faultLink]bool{}
	f.mu.isolated = map[string]bool{}
	f.mu.side = map[string]int{}
	f.mu.delay, f.mu.jitter, f.mu.drop = 0, 0, 0
}

// SetDelay delays every write on every link by base plus a uniformly random
// duration in [0, jitter).
func (f *Faults) SetDelay(base, jitter time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.delay, f.mu.jitter = max(base, 0), max(jitter, 0)
}

// SetDrop sets the probability (0 to 1) that a dial fails, and that a write
// fails and closes its connection.
func (f *Faults) SetDrop(p float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.drop = min(max(p, 0), 1)
}

// Blocked reports whether a and b cannot talk. A node can always reach itself.
func (f *Faults) Blocked(a, b string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blockedLocked(a, b)
}

func (f *Faults) blockedLocked(a, b string) bool {
	if a == b {
		return false
	}
	if f.mu.isolated[a] || f.mu.isolated[b] || f.mu.cuts[linkOf(a, b)] {
		return true
	}
	sa, okA := f.mu.side[a]
	sb, okB := f.mu.side[b]
	return okA && okB && sa != sb
}

// enforceLocked closes the open connections that are now blocked, then
// unlocks f.mu.
func (f *Faults) enforceLocked() {
	var doomed []*faultConn
	for c := range f.mu.conns {
		if f.blockedLocked(c.local, c.peer) {
			doomed = append(doomed, c)
		}
	}
	f.mu.Unlock()
	for _, c := range doomed {
		_ = c.Close()
	}
}

// draw reports true with the current drop probability.
func (f *Faults) draw() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.drop > 0 && f.mu.rng.Float64() < f.mu.drop
}

// dropDial reports whether a dial should fail.
func (f *Faults) dropDial() bool { return f.draw() }

// writeDelay returns the delay to add before a write.
func (f *Faults) writeDelay() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.mu.delay
	if f.mu.jitter > 0 {
		d += time.Duration(f.mu.rng.Int64N(int64(f.mu.jitter)))
	}
	return d
}

// wrap returns c subject to the faults of the link local–peer. If the link
// is already blocked the connection is closed at once.
func (f *Faults) wrap(c net.Conn, local, peer string) net.Conn {
	fc := &faultConn{Conn: c, f: f, local: local, peer: peer, done: make(chan struct{})}
	f.mu.Lock()
	f.mu.conns[fc] = struct{}{}
	blocked := f.blockedLocked(local, peer)
	f.mu.Unlock()
	if blocked {
		_ = fc.Close()
	}
	return fc
}

// faultConn is a connection between two nodes under fault injection.
type faultConn struct {
	net.Conn
	f           *Faults
	local, peer string
	done        chan struct{} // closed by Close
	once        sync.Once
}

// Read fails once the link is blocked.
func (c *faultConn) Read(p []byte) (int, error) {
	if c.f.Blocked(c.local, c.peer) {
		_ = c.Close()
		return 0, ErrLinkDown
	}
	n, err := c.Conn.Read(p)
	if err != nil && c.f.Blocked(c.local, c.peer) {
		err = ErrLinkDown
	}
	return n, err
}

// Write waits out the link's delay, then fails if the link is blocked or the
// write is dropped (closing the connection).
func (c *faultConn) Write(p []byte) (int, error) {
	if d := c.f.writeDelay(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.done:
			t.Stop()
			return 0, ErrLinkDown
		}
	}
	if c.f.Blocked(c.local, c.peer) || c.f.draw() {
		_ = c.Close()
		return 0, ErrLinkDown
	}
	return c.Conn.Write(p)
}

// Close closes the connection and forgets it.
func (c *faultConn) Close() error {
	c.once.Do(func() {
		close(c.done)
		c.f.mu.Lock()
		delete(c.f.mu.conns, c)
		c.f.mu.Unlock()
	})
	return c.Conn.Close()
}
