package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Streams and subjects (external contract).
const (
	EventsStream      = "STRATA_EVENTS"
	TransitionsStream = "STRATA_TRANSITIONS"
	DLQStream         = "STRATA_DLQ"

	EventsPrefix      = "strata.events."      // + user
	TransitionsPrefix = "strata.transitions." // + dimension.user
	DLQPrefix         = "strata.dlq."         // + reason
	partitionPrefix   = "strata.part."        // + shard.user: STRATA_EVENTS stores events under this subject
)

// ShardOf returns the shard of a user: FNV-1a 32 of the user mod shards, the
// same function as NATS's partition() subject mapping that partitions STRATA_EVENTS.
func ShardOf(user string, shards int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(user))
	return int(h.Sum32() % uint32(shards))
}

// partitionSubject is the stored subject of the events of shard (user "*" for a filter).
func partitionSubject(shard uint16, user string) string {
	return partitionPrefix + strconv.Itoa(int(shard)) + "." + user
}

func eventsTransform(shards int) *jetstream.SubjectTransformConfig {
	return &jetstream.SubjectTransformConfig{
		Source:      EventsPrefix + "*",
		Destination: fmt.Sprintf("%s{{partition(%d,1)}}.{{wildcard(1)}}", partitionPrefix, shards),
	}
}

// ensureStreams creates Strata's streams when absent and checks that an
// existing STRATA_EVENTS is partitioned like this node.
func ensureStreams(ctx context.Context, js jetstream.JetStream, cfg *Config) error {
	events := jetstream.StreamConfig{
		Name:             EventsStream,
		Description:      "Strata user events, partitioned by user into shards",
		Subjects:         []string{EventsPrefix + "*"},
		SubjectTransform: eventsTransform(cfg.Shards),
		Storage:          jetstream.FileStorage,
		Retention:        jetstream.LimitsPolicy,
		MaxAge:           cfg.EventsMaxAge,
		Duplicates:       2 * time.Minute,
		Replicas:         cfg.StreamReplicas,
	}
	info, err := js.Stream(ctx, EventsStream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if _, err := js.CreateStream(ctx, events); err != nil {
			return fmt.Errorf("cluster: create %s: %w", EventsStream, err)
		}
	case err != nil:
		return fmt.Errorf("cluster: %s: %w", EventsStream, err)
	default:
		have := info.CachedInfo().Config.SubjectTransform
		if have == nil || *have != *events.SubjectTransform {
			return fmt.Errorf("%w: %s maps %v, this node wants %d shards (%s)",
				ErrShardMismatch, EventsStream, have, cfg.Shards, events.SubjectTransform.Destination)
		}
	}
	for _, sc := range []jetstream.StreamConfig{{
		Name:        TransitionsStream,
		Description: "Strata tier transitions",
		Subjects:    []string{TransitionsPrefix + ">"},
		Storage:     jetstream.FileStorage,
		MaxAge:      cfg.TransitionsMaxAge,
		Duplicates:  cfg.TransitionsDuplicateWindow,
		Replicas:    cfg.StreamReplicas,
	}, {
		Name:        DLQStream,
		Description: "Strata dead letters: invalid events with Strata-Error reason",
		Subjects:    []string{DLQPrefix + ">"},
		Storage:     jetstream.FileStorage,
		MaxAge:      cfg.DLQMaxAge,
		Duplicates:  cfg.TransitionsDuplicateWindow, // dlq:<seq> ids absorb re-publication after a restart
		Replicas:    cfg.StreamReplicas,
	}} {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("cluster: stream %s: %w", sc.Name, err)
		}
	}
	return nil
}
