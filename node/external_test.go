package node_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
)

// With --nats Strata uses an external NATS server (here a separate JetStream
// server in this process) and starts none of its own.
func TestExternalNATS(t *testing.T) {
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { // registered first, so it runs after the node's cleanup
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(waitFor) {
		t.Fatal("external NATS not ready")
	}

	h := newHarnessWith(t, func(cfg *node.Config) {
		cfg.NATSURL = ns.ClientURL()
		cfg.NATSListen = "" // not used with an external server
	})
	if h.node.NATSURL() != ns.ClientURL() {
		t.Fatalf("node uses %s, want the external %s", h.node.NATSURL(), ns.ClientURL())
	}

	// A producer that only knows the external server.
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := js.Publish(ctx, cluster.EventsPrefix+"ext", event("x1", "ext", "purchase", t0, 70000)); err != nil {
		t.Fatal(err)
	}
	h.waitTransition("ext", "value", "", "whale")
	for _, stream := range []string{cluster.EventsStream, cluster.TransitionsStream, cluster.DLQStream} {
		if _, err := js.Stream(ctx, stream); err != nil {
			t.Errorf("stream %s on the external server: %v", stream, err)
		}
	}
}
