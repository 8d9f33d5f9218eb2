package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishLoop publishes the shard's outbox to STRATA_TRANSITIONS in seq order
// with deterministic Nats-Msg-Ids, then proposes trims through Raft. After a
// crash or failover the untrimmed tail is published again with the same IDs,
// which the stream's duplicate window drops.
func (s *Shard) publishLoop(ctx context.Context) {
	cfg := s.cfg.Config
	next := s.fsm.Meta().OutboxTrimmed + 1
	trimmed := next - 1
	// The untrimmed tail may have been published before a restart or leader
	// change, possibly longer ago than the stream's duplicate window: skip its
	// published prefix by asking the stream (see alreadyPublished).
	verify := true
	lastTrim := time.Now() // first trim one interval after leadership starts
	poll := time.NewTicker(cfg.TrimInterval)
	defer poll.Stop()
	// trim proposes a trim of what was published, at most every TrimInterval:
	// also while a long backlog is being published, so that the outbox in
	// Pebble shrinks as it goes instead of after the whole backlog.
	trim := func() {
		if next-1 <= trimmed || time.Since(lastTrim) < cfg.TrimInterval {
			return
		}
		now := s.cfg.Clock.Now().UnixMilli()
		if err := s.propose(appendTrim(nil, now, next-1)).Error(); err != nil {
			if ctx.Err() == nil {
				s.cfg.Logger.Warn("trim failed", "shard", s.cfg.ID, "error", err)
			}
			return
		}
		trimmed, lastTrim = next-1, time.Now()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.notify:
		case <-poll.C:
		}
		meta := s.fsm.Meta()
		next = max(next, meta.OutboxTrimmed+1)
		trimmed = max(trimmed, meta.OutboxTrimmed)
		for next < meta.OutboxNext && ctx.Err() == nil {
			n, err := s.publishFrom(ctx, next, &verify)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.cfg.Logger.Warn("publish failed, retrying", "shard", s.cfg.ID, "seq", next, "error", err)
				sleepCtx(ctx, 200*time.Millisecond)
				break
			}
			next += n
			trim()
		}
		trim()
	}
}

const publishChunk = 1000

// publishFrom publishes up to publishChunk outbox records from seq and waits
// for every acknowledgement; it returns how many it handled. The records come
// from the FSM's in-memory tail when it holds seq, else from Pebble. While *verify is
// set, records the stream already holds are skipped; the first one it does not
// hold clears *verify (publication is in order, so the rest are new).
func (s *Shard) publishFrom(ctx context.Context, from uint64, verify *bool) (uint64, error) {
	type pending struct {
		f      jetstream.PubAckFuture
		origin int64
		dim    string
	}
	var acks []pending
	var n uint64
	each := func(seq uint64, rec []byte) error {
		if seq != from+n {
			return fmt.Errorf("outbox gap: want %d, found %d", from+n, seq)
		}
		r, err := decodeOutboxRecord(rec)
		if err != nil {
			return err
		}
		if *verify {
			done, err := s.alreadyPublished(ctx, r)
			if err != nil {
				return err
			}
			if done {
				n++
				return nil
			}
			*verify = false
		}
		msg := &nats.Msg{Subject: transitionSubject(r.Dimension, r.User), Data: append([]byte(nil), r.JSON...), Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, msgID(r.User, r.Dimension, r.Seq))
		f, err := s.cfg.JS.PublishMsgAsync(msg, jetstream.WithStallWait(s.cfg.Config.ProposeTimeout))
		if err != nil {
			return err
		}
		acks = append(acks, pending{f, r.Origin, r.Dimension})
		n++
		return nil
	}
	var err error
	if recs := s.fsm.tail.appendFrom(nil, from, publishChunk); len(recs) > 0 {
		for i, rec := range recs {
			if err = each(from+uint64(i), rec); err != nil {
				break
			}
		}
	} else {
		err = s.fsm.store.Outbox(from, publishChunk, each)
	}
	if err != nil {
		return 0, err
	}
	for _, p := range acks {
		select {
		case ack := <-p.f.Ok():
			if ack.Duplicate { // published before a restart or failover
				continue
			}
		case err := <-p.f.Err():
			return 0, err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		s.cfg.Metrics.Published.WithLabelValues(p.dim).Inc()
		if p.origin > 0 {
			s.cfg.Metrics.EventToTransition.Observe(float64(time.Now().UnixMilli()-p.origin) / 1000)
		}
	}
	return n, nil
}

// alreadyPublished reports whether STRATA_TRANSITIONS holds r or a later
// transition of the same user and dimension (each subject's transitions are
// published in seq order), reading the subject's last message's Nats-Msg-Id.
func (s *Shard) alreadyPublished(ctx context.Context, r outboxRecord) (bool, error) {
	stream, err := s.cfg.JS.Stream(ctx, TransitionsStream)
	if err != nil {
		return false, err
	}
	m, err := stream.GetLastMsgForSubject(ctx, transitionSubject(r.Dimension, r.User))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	id := m.Header.Get(jetstream.MsgIDHeader) // <user>:<dimension>:<seq>
	seq, err := strconv.ParseUint(id[strings.LastIndexByte(id, ':')+1:], 10, 64)
	if err != nil {
		// Not one of ours (someone else published on the subject): it
		// proves nothing, so publish; the Msg-Id window absorbs a repeat.
		s.cfg.Logger.Warn("foreign message on a transitions subject", "subject", m.Subject, "msg_id", id)
		return false, nil
	}
	return seq >= r.Seq, nil
}
