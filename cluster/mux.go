package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// MuxConfig configures a Mux.
type MuxConfig struct {
	// NodeID is this node's ID, sent to peers (required, at most 255 bytes).
	// With TLS it must be the identity of TLS.Cert.
	NodeID string
	// Listener is a bound TCP listener (required). The Mux closes it on Close
	// (not when NewMux fails).
	Listener net.Listener
	// TLS, if set, makes every connection mutual TLS; nil is plaintext.
	TLS *TLSConfig
	// Faults, if set, injects network faults (tests).
	Faults *Faults
	// Logger receives the mux's logs (nil: none).
	Logger hclog.Logger
	// PeerID, if set, returns the node ID that must answer at a dial address
	// ("" = unknown: accept any authenticated peer). Called on every dial,
	// with no mux lock held.
	PeerID func(addr string) string
	// DialTimeout bounds the TCP dial plus handshake of a Call (within its
	// ctx) and of a Raft Dial given no timeout (default 2s).
	DialTimeout time.Duration
	// HandshakeTimeout bounds an incoming connection's TLS handshake and
	// hello (default 5s).
	HandshakeTimeout time.Duration
}

// DefaultMuxConfig returns the defaults; NodeID and Listener must be set.
func DefaultMuxConfig() MuxConfig {
	return MuxConfig{DialTimeout: 2 * time.Second, HandshakeTimeout: 5 * time.Second}
}

// Validate checks the configuration without changing it.
func (c MuxConfig) Validate() error {
	switch {
	case c.NodeID == "" || len(c.NodeID) > maxNodeIDLen:
		return fmt.Errorf("cluster: mux NodeID %q: want 1 to %d bytes", c.NodeID, maxNodeIDLen)
	case c.Listener == nil:
		return errors.New("cluster: mux Listener is nil")
	case c.DialTimeout < 0:
		return fmt.Errorf("cluster: mux DialTimeout %v is negative", c.DialTimeout)
	case c.HandshakeTimeout < 0:
		return fmt.Errorf("cluster: mux HandshakeTimeout %v is negative", c.HandshakeTimeout)
	}
	if c.TLS != nil {
		id, err := c.TLS.nodeID()
		if err != nil {
			return err
		}
		if id != c.NodeID {
			return fmt.Errorf("cluster: mux NodeID %q but its TLS certificate is for %q", c.NodeID, id)
		}
	}
	return nil
}

// Mux is a node's one TCP listener, shared by all its Raft groups (Stream)
// and a request/response RPC channel (Handle, Call). Safe for concurrent use.
type Mux struct {
	cfg       MuxConfig
	log       hclog.Logger
	serverTLS *tls.Config // nil: plaintext
	clientTLS *tls.Config
	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	handler   atomic.Pointer[RPCHandler]
	wg        sync.WaitGroup // accept loop and incoming connections

	mu struct {
		sync.Mutex
		closed bool
		groups map[uint16]*groupLayer
		conns  map[*muxConn]struct{}
		idle   map[string][]*muxConn // pooled RPC conns by address
	}
}

// NewMux validates cfg, fills in defaults and starts accepting on cfg.Listener.
func NewMux(cfg MuxConfig) (*Mux, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	def := DefaultMuxConfig()
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = def.DialTimeout
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = def.HandshakeTimeout
	}
	m := &Mux{cfg: cfg, log: cfg.Logger}
	if m.log == nil {
		m.log = hclog.NewNullLogger()
	}
	if cfg.TLS != nil {
		m.serverTLS, m.clientTLS = cfg.TLS.server(), cfg.TLS.client()
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.mu.groups = map[uint16]*groupLayer{}
	m.mu.conns = map[*muxConn]struct{}{}
	m.mu.idle = map[string][]*muxConn{}
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

// Addr is the listener's address.
func (m *Mux) Addr() net.Addr { return m.cfg.Listener.Addr() }

// NodeID is this node's ID.
func (m *Mux) NodeID() string { return m.cfg.NodeID }

// Close stops the listener, every group layer and every connection, cancels
// running handlers' contexts and waits for them. Later calls return nil.
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.closed = true
	layers := make([]*groupLayer, 0, len(m.mu.groups))
	for _, l := range m.mu.groups {
		layers = append(layers, l)
	}
	victims := m.collectLocked(nil)
	m.mu.idle = nil
	m.mu.Unlock()

	m.cancel()
	err := m.cfg.Listener.Close()
	for _, l := range layers {
		_ = l.Close()
	}
	abortConns(victims)
	m.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// connVictim is a connection to abort, with its outermost wrapper.
type connVictim struct {
	t   *muxConn
	top net.Conn
}

// collectLocked returns the connections owned by l (all if l is nil).
func (m *Mux) collectLocked(l *groupLayer) []connVictim {
	var vs []connVictim
	for t := range m.mu.conns {
		if l == nil || t.layer == l {
			vs = append(vs, connVictim{t, t.top})
		}
	}
	return vs
}

func abortConns(vs []connVictim) {
	for _, v := range vs {
		_ = v.t.Conn.Close() // first, so that closing the wrappers sends nothing
		if v.top != nil {
			_ = v.top.Close()
		}
		_ = v.t.Close()
	}
}

// muxConn is a TCP connection registered with its Mux so that Close (of the
// Mux or of its group's layer) can abort it. TLS and fault wrappers sit on top.
type muxConn struct {
	net.Conn
	m    *Mux
	dead atomic.Bool
	// guarded by m.mu
	layer *groupLayer // the Raft group layer that owns it, if any
	top   net.Conn    // outermost wrapper, once the handshake is done
}

// Close closes the TCP connection and unregisters it.
func (t *muxConn) Close() error {
	if t.dead.Swap(true) {
		return nil
	}
	t.m.mu.Lock()
	delete(t.m.mu.conns, t)
	t.m.mu.Unlock()
	return t.Conn.Close()
}

// track registers raw; it fails (closing raw) once the Mux or l is closed.
// With incoming set, it also counts the connection's goroutine in m.wg.
func (m *Mux) track(raw net.Conn, l *groupLayer, incoming bool) (*muxConn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed || (l != nil && l.closed) {
		_ = raw.Close()
		return nil, ErrClosed
	}
	t := &muxConn{Conn: raw, m: m, layer: l}
	m.mu.conns[t] = struct{}{}
	if incoming {
		m.wg.Add(1)
	}
	return t, nil
}

// finish ends a successful handshake: it clears the handshake deadline and
// adds the fault wrapper between this node and peer.
func (m *Mux) finish(t *muxConn, c net.Conn, peer string) (net.Conn, error) {
	if err := c.SetDeadline(time.Time{}); err != nil {
		return c, err
	}
	if f := m.cfg.Faults; f != nil {
		c = f.wrap(c, m.cfg.NodeID, peer)
	}
	m.mu.Lock()
	alive := !t.dead.Load()
	if alive {
		t.top = c
	}
	m.mu.Unlock()
	if !alive {
		return c, ErrClosed
	}
	return c, nil
}

func (m *Mux) acceptLoop() {
	defer m.wg.Done()
	var backoff time.Duration
	for {
		raw, err := m.cfg.Listener.Accept()
		if err != nil {
			if m.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.log.Error("accept failed", "error", err, "retry_in", backoff)
			select {
			case <-m.ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		t, err := m.track(raw, nil, true)
		if err != nil {
			return
		}
		go m.serveConn(t)
	}
}

// serveConn runs an incoming connection's handshake, then hands it to its
// group's layer or serves RPCs on it.
func (m *Mux) serveConn(t *muxConn) {
	defer m.wg.Done()
	c, h, l, err := m.acceptHandshake(t)
	if err != nil {
		m.log.Debug("incoming connection dropped", "remote", t.RemoteAddr(), "node", h.node, "error", err)
		_ = c.Close()
		return
	}
	if h.kind == muxKindRPC {
		m.serveRPC(c, h.node)
		return
	}
	select {
	case l.accept <- c:
	case <-l.done:
		_ = c.Close()
	case <-m.ctx.Done():
		_ = c.Close()
	}
}

// acceptHandshake authenticates and answers an incoming connection. It
// returns the connection to use (or to close, on error).
func (m *Mux) acceptHandshake(t *muxConn) (net.Conn, muxHello, *groupLayer, error) {
	var c net.Conn = t
	if err := t.SetDeadline(time.Now().Add(m.cfg.HandshakeTimeout)); err != nil {
		return c, muxHello{}, nil, err
	}
	certID := ""
	if m.serverTLS != nil {
		tc := tls.Server(t, m.serverTLS)
		c = tc
		if err := tc.HandshakeContext(m.ctx); err != nil {
			return c, muxHello{}, nil, fmt.Errorf("tls: %w", err)
		}
		id, err := peerCertID(tc)
		if err != nil {
			return c, muxHello{}, nil, err
		}
		certID = id
	}
	h, err := readMuxHello(c)
	if err != nil {
		if errors.Is(err, errMuxVersion) {
			_, _ = c.Write(appendMuxReply(nil, muxStatusBadVersion, m.cfg.NodeID))
		}
		return c, h, nil, err
	}
	if f := m.cfg.Faults; f != nil && f.Blocked(m.cfg.NodeID, h.node) {
		return c, h, nil, ErrLinkDown // a cut link: the dialer just sees the connection drop
	}
	status := muxStatusOK
	var l *groupLayer
	switch {
	case certID != "" && h.node != certID:
		status = muxStatusRefused
		m.log.Warn("refused a peer claiming another node's ID", "claimed", h.node, "cert", certID, "remote", t.RemoteAddr())
	case h.kind == muxKindRaft:
		m.mu.Lock()
		if l = m.mu.groups[h.group]; l != nil {
			t.layer = l
		}
		m.mu.Unlock()
		if l == nil {
			status = muxStatusUnknownGroup
		}
	}
	if _, err := c.Write(appendMuxReply(nil, status, m.cfg.NodeID)); err != nil {
		return c, h, nil, err
	}
	if err := handshakeError(status); err != nil {
		return c, h, nil, err
	}
	c, err = m.finish(t, c, h.node)
	return c, h, l, err
}

// dial opens a connection of the given kind to addr, owned by l if set, and
// returns it with the peer's node ID. ctx must carry a deadline.
func (m *Mux) dial(ctx context.Context, addr string, kind byte, group uint16, l *groupLayer) (*muxConn, net.Conn, string, error) {
	m.mu.Lock()
	closed := m.mu.closed || (l != nil && l.closed)
	m.mu.Unlock()
	if closed {
		return nil, nil, "", ErrClosed
	}
	expect := ""
	if m.cfg.PeerID != nil {
		expect = m.cfg.PeerID(addr)
	}
	if f := m.cfg.Faults; f != nil {
		if expect != "" && f.Blocked(m.cfg.NodeID, expect) {
			return nil, nil, "", ErrLinkDown
		}
		if f.dropDial() {
			return nil, nil, "", fmt.Errorf("%w (dial dropped)", ErrLinkDown)
		}
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, "", err
	}
	t, err := m.track(raw, l, false)
	if err != nil {
		return nil, nil, "", err
	}
	c, peer, err := m.dialHandshake(ctx, t, kind, group, expect)
	if err != nil {
		abortConns([]connVictim{{t, c}})
		return nil, nil, "", err
	}
	return t, c, peer, nil
}

func (m *Mux) dialHandshake(ctx context.Context, t *muxConn, kind byte, group uint16, expect string) (net.Conn, string, error) {
	var c net.Conn = t
	dl, _ := ctx.Deadline()
	if err := t.SetDeadline(dl); err != nil {
		return c, "", err
	}
	stop := context.AfterFunc(ctx, func() { _ = t.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	certID := ""
	if m.clientTLS != nil {
		tc := tls.Client(t, m.clientTLS)
		c = tc
		if err := tc.HandshakeContext(ctx); err != nil {
			return c, "", fmt.Errorf("%w: tls: %w", ErrRefused, err)
		}
		id, err := peerCertID(tc)
		if err != nil {
			return c, "", err
		}
		certID = id
	}
	if _, err := c.Write(appendMuxHello(nil, muxHello{kind: kind, group: group, node: m.cfg.NodeID})); err != nil {
		return c, "", err
	}
	status, peer, err := readMuxReply(c)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "remote error" { // a TLS alert: our certificate was refused
			return c, "", fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return c, "", err
	}
	if err := handshakeError(status); err != nil {
		return c, "", err
	}
	if certID != "" && peer != certID {
		return c, "", fmt.Errorf("%w: peer says %q, its certificate %q", ErrPeerMismatch, peer, certID)
	}
	if expect != "" && peer != expect {
		return c, "", fmt.Errorf("%w: want %q, got %q", ErrPeerMismatch, expect, peer)
	}
	if f := m.cfg.Faults; f != nil && f.Blocked(m.cfg.NodeID, peer) {
		return c, "", ErrLinkDown
	}
	if !stop() {
		return c, "", ctx.Err()
	}
	c, err = m.finish(t, c, peer)
	return c, peer, err
}

// Stream registers a Raft group and returns its stream layer: Accept yields
// the group's incoming connections, Dial opens a connection to the group at
// another node. Closing the layer unregisters the group and closes its
// connections (the listener stays up); Stream may then be called again.
func (m *Mux) Stream(group uint16) (raft.StreamLayer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return nil, ErrClosed
	}
	if m.mu.groups[group] != nil {
		return nil, fmt.Errorf("cluster: stream %d: %w", group, ErrGroupInUse)
	}
	l := &groupLayer{m: m, group: group, accept: make(chan net.Conn), done: make(chan struct{})}
	m.mu.groups[group] = l
	return l, nil
}

// groupLayer is one Raft group's view of the Mux.
type groupLayer struct {
	m      *Mux
	group  uint16
	accept chan net.Conn
	done   chan struct{} // closed by Close
	closed bool          // guarded by m.mu
}

var _ raft.StreamLayer = (*groupLayer)(nil)

// Accept returns the group's next incoming connection, or ErrClosed once the
// layer or the Mux is closed.
func (l *groupLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("cluster: stream %d: %w", l.group, ErrClosed)
	}
}

// Close unregisters the group and closes every connection it accepted or dialed.
func (l *groupLayer) Close() error {
	m := l.m
	m.mu.Lock()
	if l.closed {
		m.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	if m.mu.groups[l.group] == l {
		delete(m.mu.groups, l.group)
	}
	victims := m.collectLocked(l)
	m.mu.Unlock()
	abortConns(victims)
	return nil
}

// Addr is the Mux's listener address, shared by all groups.
func (l *groupLayer) Addr() net.Addr { return l.m.Addr() }

// Dial opens a connection to the group at address (timeout 0: the Mux's DialTimeout).
func (l *groupLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = l.m.cfg.DialTimeout
	}
	ctx, cancel := context.WithTimeout(l.m.ctx, timeout)
	defer cancel()
	_, c, _, err := l.m.dial(ctx, string(address), muxKindRaft, l.group, l)
	if err != nil {
		return nil, fmt.Errorf("cluster: stream %d: dial %s: %w", l.group, address, err)
	}
	return c, nil
}
