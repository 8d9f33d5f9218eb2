package cluster_test

import (
	"fmt"

	"github.com/strata-io/strata/cluster"
)

// ShardOf matches NATS's partition() mapping, so the shard that ingests a
// user's events is the shard a read for that user goes to.
func ExampleShardOf() {
	for _, user := range []string{"u42", "alice", "bob"} {
		fmt.Println(user, cluster.ShardOf(user, 8))
	}
	// Output:
	// u42 2
	// alice 7
	// bob 4
}
