package node_test

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/strata-io/strata/node"
)

// startNATSCluster starts a 3-server NATS cluster with JetStream in this
// process and returns its client URLs, comma-separated, and the servers.
func startNATSCluster(t *testing.T) (string, []*server.Server) {
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
	var urls []string
	for i, p := range ports {
		servers = append(servers, startNATS(t, &server.Options{
			ServerName: fmt.Sprintf("nats%d", i+1),
			Cluster:    server.ClusterOpts{Name: "strata-test", Host: "127.0.0.1", Port: p},
			Routes:     routes,
		}))
	}
	for _, ns := range servers {
		if !ns.ReadyForConnections(waitFor) {
			t.Fatal("NATS server not ready")
		}
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

// Strata on a real NATS cluster (--nats with three servers, streams with three
// replicas): one NATS server is shut down under load, and every invariant
// still holds.
func TestClusterOnNATSCluster(t *testing.T) {
	urls, servers := startNATSCluster(t)
	h := newClusterHarnessOn(t, urls, 3, func(id string, cfg *node.Config) {
		cfg.Cluster.StreamReplicas = 3
	})
	l := startLoad(h, 8, 1)
	h.waitProgress(l, "load running")
	servers[2].Shutdown()
	servers[2].WaitForShutdown()
	h.waitProgress(l, "progress with one NATS server down")
	acked := l.finish()
	h.waitSettled(3)
	h.verify(acked)
	l.checkLinearizable(t)
}
