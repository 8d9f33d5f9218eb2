package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
)

// With mutual TLS the cluster forms and replicates as without; a node whose
// certificate another CA signed cannot join, and neither can one presenting
// a member's name on a certificate issued to someone else.
func TestClusterMutualTLS(t *testing.T) {
	ca, err := cluster.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	h := newClusterHarness(t, 3, func(id string, cfg *node.Config) {
		cert, key, caFile, err := ca.WritePEM(dir, id)
		if err != nil {
			t.Fatal(err)
		}
		cfg.TLSCert, cfg.TLSKey, cfg.TLSCA = cert, key, caFile
	})
	for i := range 10 {
		u := fmt.Sprintf("tls%d", i)
		if err := h.publish(u, event("e"+u, u, "purchase", t0, 100)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range h.live() {
		for i := range 10 {
			u := fmt.Sprintf("tls%d", i)
			if v, code, err := httpUser(m, u, "strong"); err != nil || code != 200 || v.Events != 1 {
				t.Fatalf("strong read %s via %s: %d %v %+v", u, m.id, code, err, v)
			}
		}
	}
	h.checkConverged()

	join := func(id string, certFor string, signer *cluster.TestCA) error {
		m := &member{id: id, dir: t.TempDir(), raftAddr: "127.0.0.1:0", join: true}
		cfg := h.config(m)
		cert, key, _, err := signer.WritePEM(t.TempDir(), certFor)
		if err != nil {
			t.Fatal(err)
		}
		_, _, caFile, _ := ca.WritePEM(t.TempDir(), "unused")
		cfg.TLSCert, cfg.TLSKey, cfg.TLSCA = cert, key, caFile
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		n, err := node.Start(ctx, cfg)
		if err == nil {
			n.Close()
		}
		return err
	}
	other, err := cluster.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	if err := join("rogue", "rogue", other); err == nil {
		t.Fatal("a node with a certificate from another CA joined")
	} else {
		t.Logf("foreign CA refused: %v", err)
	}
	if err := join("n9", "n2", ca); err == nil {
		t.Fatal("a node presenting n2's certificate as n9 joined")
	} else {
		t.Logf("certificate of another node refused: %v", err)
	}
	st, err := h.status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 3 {
		t.Fatalf("cluster has %d members after refused joins, want 3", len(st.Nodes))
	}
}
