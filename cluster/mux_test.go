package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Tests of the mux: Raft groups over real NetworkTransports, RPC and the
// handshake against garbage. TLS is in mux_tls_test.go, fault injection in
// faults_test.go, the helpers in mux_harness_test.go.

// muxPlainCfgs returns plaintext configurations for ids.
func muxPlainCfgs(ids ...string) []MuxConfig {
	var cfgs []MuxConfig
	for _, id := range ids {
		cfgs = append(cfgs, MuxConfig{NodeID: id})
	}
	return cfgs
}

func TestMuxRaftGroups(t *testing.T) {
	groups := []uint16{1, 2, ControlGroup}
	c := startMuxCluster(t, groups, muxPlainCfgs("n1", "n2", "n3")...)
	for _, n := range c.nodes {
		for _, g := range groups {
			if got, want := n.trans[g].LocalAddr(), raft.ServerAddress(n.mux.Addr().String()); got != want {
				t.Fatalf("%s group %d: transport address %s, want the mux listener %s", n.id, g, got, want)
			}
		}
	}
	for i, g := range groups {
		want := c.apply(t, g, 10+i, "")
		if want < int64(10+i) {
			t.Fatalf("group %d: leader applied %d entries, want at least %d", g, want, 10+i)
		}
		c.converge(t, g, want)
	}
}

func TestMuxStreamRegistration(t *testing.T) {
	a := newTestMux(t, MuxConfig{NodeID: "a"})
	b := newTestMux(t, MuxConfig{NodeID: "b"})
	la, err := a.Stream(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Stream(1); !errors.Is(err, ErrGroupInUse) {
		t.Fatalf("second Stream(1): %v, want ErrGroupInUse", err)
	}
	if _, err := la.Dial(raft.ServerAddress(b.Addr().String()), time.Second); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("dial to a group b does not have: %v, want ErrUnknownGroup", err)
	}
	lb, err := b.Stream(1)
	if err != nil {
		t.Fatal(err)
	}
	if lb.Addr().String() != b.Addr().String() {
		t.Fatalf("layer address %s, want %s", lb.Addr(), b.Addr())
	}
	// One connection each way through the layers.
	ca, err := la.Dial(raft.ServerAddress(b.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := lb.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(cb, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
	// Closing b's layer closes its connections and unregisters the group only.
	if err := lb.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := lb.Accept(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Close: %v, want ErrClosed", err)
	}
	_ = ca.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := ca.Read(buf); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on a conn whose layer closed at the peer: %v, want EOF", err)
	}
	_ = ca.Close()
	if _, err := la.Dial(raft.ServerAddress(b.Addr().String()), time.Second); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("dial after the peer's layer closed: %v, want ErrUnknownGroup", err)
	}
	lb2, err := b.Stream(1)
	if err != nil {
		t.Fatalf("Stream(1) after its layer closed: %v", err)
	}
	c2, err := la.Dial(raft.ServerAddress(b.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lb2.Accept(); err != nil {
		t.Fatal(err)
	}
	_ = c2.Close()
	// Closing the Mux ends Accept on its layers and refuses new streams and calls.
	accepted := make(chan error, 1)
	go func() {
		_, err := la.Accept()
		accepted <- err
	}()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; err == nil {
		t.Fatal("Accept returned a conn after the mux closed")
	}
	if _, err := a.Stream(2); !errors.Is(err, ErrClosed) {
		t.Fatalf("Stream after Close: %v, want ErrClosed", err)
	}
	if _, err := a.Call(context.Background(), b.Addr().String(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Call after Close: %v, want ErrClosed", err)
	}
	if _, err := la.Dial(raft.ServerAddress(b.Addr().String()), time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("Dial after Close: %v, want ErrClosed", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestMuxConfigValidate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	ca, err := NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	n9, err := ca.Issue("n9")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  MuxConfig
		want string
	}{
		{"no node", MuxConfig{Listener: ln}, "NodeID"},
		{"long node", MuxConfig{NodeID: strings.Repeat("x", 256), Listener: ln}, "NodeID"},
		{"no listener", MuxConfig{NodeID: "n1"}, "Listener"},
		{"negative dial timeout", MuxConfig{NodeID: "n1", Listener: ln, DialTimeout: -1}, "DialTimeout"},
		{"cert for another node", MuxConfig{NodeID: "n2", Listener: ln, TLS: n9}, `"n9"`},
		{"no CAs", MuxConfig{NodeID: "n9", Listener: ln, TLS: &TLSConfig{Cert: n9.Cert}}, "CAs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.cfg
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error mentioning %s", err, tc.want)
			}
			if tc.cfg.DialTimeout != before.DialTimeout || tc.cfg.HandshakeTimeout != before.HandshakeTimeout {
				t.Fatal("Validate changed the config")
			}
			if _, err := NewMux(tc.cfg); err == nil {
				t.Fatal("NewMux accepted an invalid config")
			}
		})
	}
}

// echo answers "<peer>:<req>", fails "fail" and blocks on "block" until ctx
// ends or release is closed.
type echoHandler struct {
	started chan struct{}
	release chan struct{}
	calls   atomic.Int64
}

func newEchoHandler() *echoHandler {
	return &echoHandler{started: make(chan struct{}, 16), release: make(chan struct{})}
}

func (e *echoHandler) handle(ctx context.Context, peer string, req []byte) ([]byte, error) {
	e.calls.Add(1)
	switch string(req) {
	case "fail":
		return nil, errors.New("boom: " + peer)
	case "block":
		e.started <- struct{}{}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-e.release:
		}
	}
	return append([]byte(peer+":"), req...), nil
}

func TestMuxRPC(t *testing.T) {
	a := newTestMux(t, MuxConfig{NodeID: "a"})
	b := newTestMux(t, MuxConfig{NodeID: "b"})
	e := newEchoHandler()
	b.Handle(e.handle)
	addr := b.Addr().String()
	ctx := context.Background()

	got, err := a.Call(ctx, addr, []byte("hi"))
	if err != nil || string(got) != "a:hi" {
		t.Fatalf("Call: %q, %v; want %q", got, err, "a:hi")
	}
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 20 {
					req := fmt.Sprintf("%d-%d", i, j)
					got, err := a.Call(ctx, addr, []byte(req))
					if err == nil && string(got) != "a:"+req {
						err = fmt.Errorf("call %s answered %q", req, got)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		a.mu.Lock()
		idle := len(a.mu.idle[addr])
		a.mu.Unlock()
		if idle < 1 || idle > muxMaxIdle {
			t.Fatalf("%d idle conns pooled, want 1 to %d", idle, muxMaxIdle)
		}
	})
	t.Run("remote error", func(t *testing.T) {
		_, err := a.Call(ctx, addr, []byte("fail"))
		var re *RemoteError
		if !errors.As(err, &re) || re.Message != "boom: a" || re.Error() != "boom: a" || re.Addr != addr {
			t.Fatalf("Call: %#v, want RemoteError %q from %s", err, "boom: a", addr)
		}
		if got, err := a.Call(ctx, addr, []byte("after")); err != nil || string(got) != "a:after" {
			t.Fatalf("call after a remote error: %q, %v", got, err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := a.Call(cctx, addr, []byte("block"))
			done <- err
		}()
		<-e.started
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Call: %v, want context.Canceled", err)
		}
		dctx, dcancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer dcancel()
		go func() {
			_, err := a.Call(dctx, addr, []byte("block"))
			done <- err
		}()
		<-e.started
		if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Call past its deadline: %v, want context.DeadlineExceeded", err)
		}
		var re *RemoteError
		if _, err := a.Call(cctx, addr, []byte("x")); errors.As(err, &re) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Call with a cancelled ctx: %v", err)
		}
		close(e.release) // the blocked handlers return; b's Close would also end them
	})
	t.Run("too large", func(t *testing.T) {
		if _, err := a.Call(ctx, addr, make([]byte, MaxRPCSize+1)); !errors.Is(err, ErrRPCTooLarge) {
			t.Fatalf("Call: %v, want ErrRPCTooLarge", err)
		}
	})
	t.Run("no handler", func(t *testing.T) {
		var re *RemoteError
		if _, err := b.Call(ctx, a.Addr().String(), []byte("x")); !errors.As(err, &re) {
			t.Fatalf("Call to a mux without handler: %v, want a RemoteError", err)
		}
	})
}

// A pooled connection to a node that restarted fails; Call redials once.
func TestMuxRPCPeerRestart(t *testing.T) {
	a := newTestMux(t, MuxConfig{NodeID: "a"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	b, err := NewMux(MuxConfig{NodeID: "b", Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	b.Handle(newEchoHandler().handle)
	if _, err := a.Call(context.Background(), addr, []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	b2 := newTestMux(t, MuxConfig{NodeID: "b2", Listener: ln2})
	b2.Handle(newEchoHandler().handle)
	if got, err := a.Call(context.Background(), addr, []byte("2")); err != nil || string(got) != "a:2" {
		t.Fatalf("Call after the peer restarted: %q, %v", got, err)
	}
}

// rawConn opens a plain TCP connection to m, closed at the end of the test.
func muxRawConn(t *testing.T, m *Mux) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// expectClosed reads until the peer closes c; replies it sent are returned.
func muxExpectClosed(t *testing.T, c net.Conn) []byte {
	t.Helper()
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the mux kept a bad connection open (read %q)", b)
	}
	return b
}

func TestMuxHandshakeGarbage(t *testing.T) {
	m := newTestMux(t, MuxConfig{NodeID: "m", HandshakeTimeout: 300 * time.Millisecond})
	m.Handle(newEchoHandler().handle)
	if _, err := m.Stream(1); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	hdr := func(version, kind byte, group uint16, idLen byte) []byte {
		b := append([]byte(muxMagic), version, kind)
		b = binary.BigEndian.AppendUint16(b, group)
		return append(b, idLen)
	}
	for _, tc := range []struct {
		name  string
		send  []byte
		reply []byte // the reply expected before the mux closes the connection
	}{
		{"random", func() []byte {
			b := make([]byte, 4096)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			return b
		}(), nil},
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), nil},
		{"bad version", hdr(9, muxKindRaft, 1, 1), appendMuxReply(nil, muxStatusBadVersion, "m")},
		{"bad kind", append(hdr(muxVersion, 7, 1, 1), 'x'), nil},
		{"empty id", hdr(muxVersion, muxKindRaft, 1, 0), nil},
		{"unknown group", append(hdr(muxVersion, muxKindRaft, 2, 1), 'x'), appendMuxReply(nil, muxStatusUnknownGroup, "m")},
		{"truncated id", hdr(muxVersion, muxKindRPC, 0, 200), nil}, // stalls: the handshake deadline closes it
		{"stall", []byte("ST"), nil},                               // ditto
		{"huge rpc frame", append(append(hdr(muxVersion, muxKindRPC, 0, 1), 'x'), 0xff, 0xff, 0xff, 0xff), appendMuxReply(nil, muxStatusOK, "m")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := muxRawConn(t, m)
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if got := muxExpectClosed(t, c); !bytes.Equal(got, tc.reply) {
				t.Fatalf("mux replied %x, want %x", got, tc.reply)
			}
		})
	}
	// Many half-open connections at once, left for Close to clean up.
	for range 20 {
		c := muxRawConn(t, m)
		_, _ = c.Write([]byte("STRM"))
	}
	got, err := newTestMux(t, MuxConfig{NodeID: "n"}).Call(context.Background(), m.Addr().String(), []byte("ok"))
	if err != nil || string(got) != "n:ok" {
		t.Fatalf("Call after garbage: %q, %v", got, err)
	}
}

func FuzzMuxHello(f *testing.F) {
	f.Add(appendMuxHello(nil, muxHello{kind: muxKindRaft, group: 3, node: "n1"}))
	f.Add(appendMuxHello(nil, muxHello{kind: muxKindRPC, node: strings.Repeat("x", 255)}))
	f.Add([]byte("STRM\x01\x01\x00\x01\x05ab"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		h, err := readMuxHello(r)
		if err != nil {
			return
		}
		used := len(data) - r.Len()
		if enc := appendMuxHello(nil, h); !bytes.Equal(enc, data[:used]) {
			t.Fatalf("hello %+v re-encodes to %x, read from %x", h, enc, data[:used])
		}
		if h.node == "" || (h.kind != muxKindRaft && h.kind != muxKindRPC) {
			t.Fatalf("readHello accepted %+v", h)
		}
	})
}

// Two nodes' muxes: one serves RPCs, the other calls it; Raft groups would
// share the same listeners through Stream.
func ExampleMux() {
	listen := func(id string) *Mux {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		m, err := NewMux(MuxConfig{NodeID: id, Listener: ln})
		if err != nil {
			panic(err)
		}
		return m
	}
	a, b := listen("a"), listen("b")
	defer func() { _ = a.Close() }()
	defer func() { _ = b.Close() }()
	b.Handle(func(ctx context.Context, peer string, req []byte) ([]byte, error) {
		if string(req) == "fail" {
			return nil, errors.New("no such thing")
		}
		return []byte("hello " + peer), nil
	})
	resp, err := a.Call(context.Background(), b.Addr().String(), []byte("hi"))
	fmt.Println(string(resp), err)
	_, err = a.Call(context.Background(), b.Addr().String(), []byte("fail"))
	var re *RemoteError
	fmt.Println(errors.As(err, &re), err)
	// Output:
	// hello a <nil>
	// true no such thing
}

func BenchmarkMuxCall(b *testing.B) {
	for _, useTLS := range []bool{false, true} {
		var cfgs []MuxConfig
		if useTLS {
			ca, err := NewTestCA()
			if err != nil {
				b.Fatal(err)
			}
			for _, id := range []string{"a", "b"} {
				tc, err := ca.Issue(id)
				if err != nil {
					b.Fatal(err)
				}
				cfgs = append(cfgs, MuxConfig{NodeID: id, TLS: tc})
			}
		} else {
			cfgs = []MuxConfig{{NodeID: "a"}, {NodeID: "b"}}
		}
		for _, size := range []int{64, 4 << 10, 256 << 10} {
			b.Run(fmt.Sprintf("tls=%v/size=%d", useTLS, size), func(b *testing.B) {
				a, srv := newTestMux(b, cfgs[0]), newTestMux(b, cfgs[1])
				srv.Handle(func(_ context.Context, _ string, req []byte) ([]byte, error) { return req, nil })
				req, addr := make([]byte, size), srv.Addr().String()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := a.Call(context.Background(), addr, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// The shards' transports must not pipeline: hashicorp/raft v1.8's pipeline
// can park a replication goroutine forever after a rejected append (see
// Cluster.transport).
func TestShardTransportDoesNotPipeline(t *testing.T) {
	c := &Cluster{mux: newTestMux(t, MuxConfig{NodeID: "a"}), deps: Deps{RaftLogger: hclog.NewNullLogger()}}
	peer := newTestMux(t, MuxConfig{NodeID: "b"})
	if _, err := peer.Stream(1); err != nil {
		t.Fatal(err)
	}
	trans, err := c.transport(1)
	if err != nil {
		t.Fatal(err)
	}
	defer trans.Close()
	p, err := trans.AppendEntriesPipeline("b", raft.ServerAddress(peer.Addr().String()))
	if !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
		if p != nil {
			p.Close()
		}
		t.Fatalf("AppendEntriesPipeline: %v, want ErrPipelineReplicationNotSupported", err)
	}
}
