package node_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
)

// startNATSCluster starts a 3-server NATS cluster with JetStream in this
// process and returns its client URLs, comma-separated, and the servers.
// The route ports are picked free before the servers start (each server's
// routes name all three); another process may take one in between, so a
// cluster whose servers do not all come up is shut down and started again
// on new ports.
func startNATSCluster(t *testing.T) (string, []*server.Server) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		servers, ok := tryNATSCluster(t)
		if ok {
			var urls []string
			for _, ns := range servers {
				urls = append(urls, ns.ClientURL())
			}
			eventually(t, "JetStream meta leader", func() bool {
				for _, ns := range servers {
					if ns.JetStreamIsLeader() {
						return true
					}
				}
				return false
			})
			return strings.Join(urls, ","), servers
		}
		for _, ns := range servers {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
		if attempt == 3 {
			t.Fatal("NATS cluster not ready after 3 attempts")
		}
		t.Logf("NATS cluster not ready (attempt %d): starting it again on new ports", attempt)
	}
}

func tryNATSCluster(t *testing.T) ([]*server.Server, bool) {
	t.Helper()
	ports := make([]int, 3)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	var servers []*server.Server
	for i, p := range ports {
		servers = append(servers, launchNATS(t, &server.Options{
			ServerName: fmt.Sprintf("nats%d", i+1),
			Cluster:    server.ClusterOpts{Name: "strata-test", Host: "127.0.0.1", Port: p},
			Routes:     routes,
		}))
	}
	for _, ns := range servers {
		if !ns.ReadyForConnections(waitFor / 2) {
			return servers, false
		}
	}
	return servers, true
}

// Strata on a real NATS cluster (--nats with three servers, streams with three
// replicas): the NATS server holding most of the shards' ingest consumers is
// shut down under load; every user's ingest resumes (the ordered consumers
// recreate themselves on live servers) and every invariant still holds.
func TestClusterOnNATSCluster(t *testing.T) {
	urls, servers := startNATSCluster(t)
	h := newClusterHarnessOn(t, urls, 3, func(id string, cfg *node.Config) {
		cfg.Cluster.StreamReplicas = 3
	})
	l := startLoad(h, 8, 1)
	h.waitProgress(l, "load running")
	victim := consumerHost(t, h, servers)
	before := l.snapshot()
	down := time.Now()
	victim.Shutdown()
	victim.WaitForShutdown()
	h.waitProgress(l, "progress with one NATS server down")
	for user, n := range before {
		eventually(t, fmt.Sprintf("%s ingested past event %d with %s down", user, n, victim.Name()), func() bool {
			v, code, err := httpUser(h.live()[0], user, "strong")
			return err == nil && code == http.StatusOK && v.Events > uint64(n)
		})
	}
	t.Logf("every user's ingest resumed %s after %s went down", time.Since(down).Round(time.Millisecond), victim.Name())
	acked := l.finish()
	h.waitSettled(3)
	h.verify(acked)
	l.checkLinearizable(t)
}

// consumerHost returns the NATS server that holds most of the consumers on
// STRATA_EVENTS (one ordered consumer per shard leader).
func consumerHost(t *testing.T, h *clusterHarness, servers []*server.Server) *server.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	stream, err := h.js.Stream(ctx, cluster.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]int{}
	list := stream.ListConsumers(ctx)
	for ci := range list.Info() {
		if ci.Cluster != nil {
			held[ci.Cluster.Leader]++
		}
	}
	if err := list.Err(); err != nil {
		t.Fatal(err)
	}
	best := servers[0]
	for _, ns := range servers {
		if held[ns.Name()] > held[best.Name()] {
			best = ns
		}
	}
	t.Logf("ingest consumers per NATS server: %v; shutting down %s", held, best.Name())
	if held[best.Name()] == 0 {
		t.Fatal("no consumer on STRATA_EVENTS found")
	}
	return best
}
