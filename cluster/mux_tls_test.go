package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"testing"
	"time"
)

// Tests of mutual TLS between muxes.

// muxTLSCfgs issues certificates for ids from ca.
func muxTLSCfgs(t *testing.T, ca *TestCA, ids ...string) []MuxConfig {
	t.Helper()
	var cfgs []MuxConfig
	for _, id := range ids {
		tc, err := ca.Issue(id)
		if err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, MuxConfig{NodeID: id, TLS: tc})
	}
	return cfgs
}

func TestTLSMuxRaftGroups(t *testing.T) {
	ca, err := NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	c := startMuxCluster(t, []uint16{1, 2}, muxTLSCfgs(t, ca, "n1", "n2", "n3")...)
	for _, g := range []uint16{1, 2} {
		c.converge(t, g, c.apply(t, g, 5, ""))
	}
	c.nodes[1].mux.Handle(newEchoHandler().handle)
	got, err := c.nodes[0].mux.Call(context.Background(), c.nodes[1].mux.Addr().String(), []byte("x"))
	if err != nil || string(got) != "n1:x" {
		t.Fatalf("TLS Call: %q, %v", got, err)
	}
}

func TestTLSMuxRefusals(t *testing.T) {
	ca, err := NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	cfgs := muxTLSCfgs(t, ca, "n1", "n2")
	e := newEchoHandler()
	n1 := newTestMux(t, cfgs[0])
	n1.Handle(e.handle)
	addr := n1.Addr().String()
	ctx := context.Background()
	call := func(t *testing.T, from *Mux, to string) error {
		t.Helper()
		before := e.calls.Load()
		_, err := from.Call(ctx, to, []byte("x"))
		if err != nil && e.calls.Load() != before {
			t.Fatal("the handler ran for a refused call")
		}
		return err
	}

	t.Run("same CA", func(t *testing.T) {
		if err := call(t, newTestMux(t, cfgs[1]), addr); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("other CA", func(t *testing.T) {
		stranger := newTestMux(t, muxTLSCfgs(t, other, "n2")[0])
		stranger.Handle(e.handle)
		if err := call(t, stranger, addr); err == nil {
			t.Fatal("a node with a certificate from another CA was accepted")
		}
		if err := call(t, n1, stranger.Addr().String()); err == nil {
			t.Fatal("a server with a certificate from another CA was accepted")
		}
	})
	t.Run("plaintext dialer", func(t *testing.T) {
		if err := call(t, newTestMux(t, MuxConfig{NodeID: "n2"}), addr); err == nil {
			t.Fatal("a plaintext dialer was accepted by a TLS mux")
		}
	})
	t.Run("TLS dialer to plaintext", func(t *testing.T) {
		plain := newTestMux(t, MuxConfig{NodeID: "p"})
		plain.Handle(e.handle)
		if err := call(t, n1, plain.Addr().String()); err == nil {
			t.Fatal("a TLS dialer accepted a plaintext peer")
		}
	})
	// A client whose certificate says n9 but whose hello claims n2.
	n9, err := ca.Issue("n9")
	if err != nil {
		t.Fatal(err)
	}
	handshake := func(t *testing.T, cfg *tls.Config, claim string) (byte, string, error) {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			return 0, "", err
		}
		defer func() { _ = c.Close() }()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(appendMuxHello(nil, muxHello{kind: muxKindRPC, node: claim})); err != nil {
			return 0, "", err
		}
		return readMuxReply(c)
	}
	t.Run("claims another node", func(t *testing.T) {
		if st, peer, err := handshake(t, n9.client(), "n9"); err != nil || st != muxStatusOK || peer != "n1" {
			t.Fatalf("honest n9: status %d from %q, %v", st, peer, err)
		}
		if st, _, err := handshake(t, n9.client(), "n2"); err != nil || st != muxStatusRefused {
			t.Fatalf("n9 claiming n2: status %d, %v; want refused", st, err)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		cfg := n9.client()
		cfg.GetClientCertificate = nil
		if _, _, err := handshake(t, cfg, "n9"); err == nil {
			t.Fatal("a client without a certificate got a reply")
		}
	})
	t.Run("PeerID mismatch", func(t *testing.T) {
		cfg := cfgs[1]
		cfg.PeerID = func(string) string { return "n3" }
		err := call(t, newTestMux(t, cfg), addr)
		if !errors.Is(err, ErrPeerMismatch) {
			t.Fatalf("Call: %v, want ErrPeerMismatch", err)
		}
		cfg.PeerID = func(a string) string { return map[string]string{addr: "n1"}[a] }
		if err := call(t, newTestMux(t, cfg), addr); err != nil {
			t.Fatalf("Call with the right PeerID: %v", err)
		}
	})
	t.Run("plaintext PeerID mismatch", func(t *testing.T) {
		p1 := newTestMux(t, MuxConfig{NodeID: "p1"})
		p1.Handle(e.handle)
		p2 := newTestMux(t, MuxConfig{NodeID: "p2", PeerID: func(string) string { return "p3" }})
		if err := call(t, p2, p1.Addr().String()); !errors.Is(err, ErrPeerMismatch) {
			t.Fatalf("Call: %v, want ErrPeerMismatch", err)
		}
	})
}

func TestTLSLoad(t *testing.T) {
	ca, err := NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile, caFile, err := ca.WritePEM(dir, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := LoadTLS(certFile, keyFile, caFile)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := tc.nodeID(); err != nil || id != "node-1" {
		t.Fatalf("loaded identity %q, %v", id, err)
	}
	// The loaded config works against one issued in memory.
	peer := newTestMux(t, muxTLSCfgs(t, ca, "node-2")[0])
	peer.Handle(newEchoHandler().handle)
	m := newTestMux(t, MuxConfig{NodeID: "node-1", TLS: tc})
	if got, err := m.Call(context.Background(), peer.Addr().String(), []byte("x")); err != nil || string(got) != "node-1:x" {
		t.Fatalf("Call with loaded certificates: %q, %v", got, err)
	}
	if _, err := LoadTLS(certFile, keyFile, dir+"/missing.pem"); err == nil {
		t.Fatal("LoadTLS without a CA file succeeded")
	}
	if _, err := LoadTLS(certFile, caFile, caFile); err == nil {
		t.Fatal("LoadTLS with a certificate as key succeeded")
	}
	if _, _, _, err := ca.WritePEM(dir, "../x"); err == nil {
		t.Fatal("WritePEM accepted a path as node ID")
	}
}

func TestTLSNodeIDFromCert(t *testing.T) {
	uri := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, tc := range []struct {
		name string
		cert x509.Certificate
		want string // "" = error
	}{
		{"URI preferred", x509.Certificate{Subject: pkix.Name{CommonName: "cn"}, URIs: []*url.URL{uri("strata://node/n1")}}, "n1"},
		{"escaped URI", x509.Certificate{URIs: []*url.URL{uri("strata://node/a%20b")}}, "a b"},
		{"CN fallback", x509.Certificate{Subject: pkix.Name{CommonName: "cn"}, URIs: []*url.URL{uri("spiffe://node/x")}}, "cn"},
		{"empty URI path", x509.Certificate{Subject: pkix.Name{CommonName: "cn"}, URIs: []*url.URL{uri("strata://node/")}}, "cn"},
		{"nothing", x509.Certificate{URIs: []*url.URL{uri("strata://other/x")}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NodeIDFromCert(&tc.cert)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
