package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/scoring"
)

// Headers of dead-lettered messages (external contract).
const (
	HeaderError   = "Strata-Error"   // stable reason code
	HeaderDetail  = "Strata-Detail"  // human text
	HeaderSubject = "Strata-Subject" // the subject the event was published on
	HeaderSeq     = "Strata-Seq"     // its STRATA_EVENTS sequence
)

// IngestPullOptions are the pull options of a shard's ordered consumer on
// STRATA_EVENTS (the bench's pipe ceiling pulls the same way). Pull requests
// expire after 5 s and the server sends a heartbeat every second: when the
// NATS server holding the consumer goes away while the connection stays up
// (another server of a NATS cluster), two missed heartbeats make the ordered
// consumer recreate itself on a live server within about 2 s, where the
// library's default (5 s heartbeats) stalls the shard for about 10 s.
func IngestPullOptions(maxBatch int) []jetstream.PullConsumeOpt {
	return []jetstream.PullConsumeOpt{
		jetstream.PullMaxMessages(maxBatch),
		jetstream.PullExpiry(5 * time.Second),
		jetstream.PullHeartbeat(time.Second),
	}
}

// ingestLoop consumes the shard's partition of STRATA_EVENTS from the
// replicated cursor and proposes batches; it restarts the consumer on errors.
func (s *Shard) ingestLoop(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.consume(ctx)
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("ingest restarting", "shard", s.cfg.ID, "error", err)
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}
}

type proposal struct {
	future raft.ApplyFuture
	start  time.Time
	stored []int64
}

func (s *Shard) setIngesting(v bool) {
	s.mu.Lock()
	s.mu.ingesting = v
	s.mu.Unlock()
}

func (s *Shard) consume(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil) // also registered again below, to run before sub.Stop
	cfg := s.cfg.Config
	cursor := s.fsm.Meta().Cursor
	cc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{partitionSubject(s.cfg.ID, "*")}}
	if cursor > 0 {
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cc.OptStartSeq = cursor + 1
	}
	cons, err := s.cfg.JS.OrderedConsumer(ctx, EventsStream, cc)
	if err != nil {
		return fmt.Errorf("ordered consumer: %w", err)
	}
	msgs := make(chan jetstream.Msg, 2*cfg.MaxBatch)
	sub, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-ctx.Done():
		}
	}, IngestPullOptions(cfg.MaxBatch)...)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer sub.Stop()
	defer cancel(nil) // unblocks a callback waiting on a full msgs before Stop

	// Proposals are pipelined; a waiter observes them in order and stops the
	// consumer on the first failure (it restarts from the replicated cursor).
	inflight := make(chan proposal, cfg.MaxInflight)
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		for p := range inflight {
			err := p.future.Error()
			if err == nil {
				if resp, ok := p.future.Response().(error); ok && resp != nil {
					err = resp // rejected by the FSM, e.g. ErrCursorGap
				}
			}
			if err != nil {
				cancel(fmt.Errorf("propose: %w", err))
				continue
			}
			applied := time.Now()
			s.cfg.Metrics.ProposeSeconds.Observe(applied.Sub(p.start).Seconds())
			for _, st := range p.stored {
				s.cfg.Metrics.EventApplied.Observe(float64(applied.UnixMilli()-st) / 1000)
			}
		}
	}()
	defer func() {
		close(inflight)
		<-waited
	}()

	s.setIngesting(true)
	defer s.setIngesting(false)
	prefix := len(partitionSubject(s.cfg.ID, ""))
	var (
		batch   []ingested
		stored  []int64
		dlq     []jetstream.PubAckFuture
		lastSeq uint64
		data    []byte
	)
	var raw []jetstream.Msg
	for {
		var err error
		if raw, err = gather(ctx, msgs, raw[:0], cfg.MaxBatch, cfg.MaxBatchBytes); err != nil {
			return err
		}
		batch, stored, dlq, lastSeq = batch[:0], nil, dlq[:0], 0
		prevSeq := cursor
		now := s.cfg.Clock.Now().UnixMilli()
		for _, m := range raw {
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("message metadata: %w", err)
			}
			seq := md.Sequence.Stream
			if seq <= cursor {
				continue
			}
			user := ""
			if subj := m.Subject(); len(subj) > prefix {
				user = subj[prefix:]
			}
			ev, err := scoring.Decode(m.Data(), user, now, cfg.Limits)
			if err != nil {
				f, perr := s.deadLetter(m, user, seq, err)
				if perr != nil {
					return perr
				}
				dlq = append(dlq, f)
			} else {
				batch = append(batch, ingested{Seq: seq, Stored: md.Timestamp.UnixMilli(), Event: ev})
				stored = append(stored, md.Timestamp.UnixMilli())
			}
			lastSeq, cursor = seq, seq
		}
		if lastSeq == 0 {
			continue
		}
		// Dead letters must be stored before the cursor moves past them.
		for _, f := range dlq {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("dead-letter publish: %w", err)
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		data = appendIngest(data[:0], now, prevSeq, lastSeq, batch)
		s.cfg.Metrics.BatchEvents.Observe(float64(len(batch)))
		f := s.propose(append([]byte(nil), data...))
		p := proposal{future: f, start: time.Now(), stored: stored}
		select {
		case inflight <- p:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// gather waits for the next messages of the shard's partition and returns
// them appended to raw: the first to arrive and those already waiting behind
// it, up to maxBatch messages or maxBytes of payload.
//
// It returns ctx's cause instead of a batch once ctx is done, also when the
// messages arrived before. The consumer's callback drops messages once ctx is
// done (it must return for the subscription to stop), and a drop happens
// before the hand-over of any message behind it, so a batch gathered after
// the cancellation may lack a message from its middle. Proposing such a batch
// moves the cursor past an event that was never applied: during a shutdown
// Raft is still up and commits it. Checking ctx after the last receive rules
// that out. Once ctx is done nothing of this consumer is proposed; the next
// starts again from the replicated cursor.
func gather(ctx context.Context, msgs <-chan jetstream.Msg, raw []jetstream.Msg, maxBatch, maxBytes int) ([]jetstream.Msg, error) {
	select {
	case <-ctx.Done():
		return raw, context.Cause(ctx)
	case m := <-msgs:
		raw = append(raw, m)
	}
	size := len(raw[0].Data())
	for len(raw) < maxBatch && size < maxBytes {
		select {
		case m := <-msgs:
			raw = append(raw, m)
			size += len(m.Data())
			continue
		default:
		}
		break
	}
	if ctx.Err() != nil {
		return raw[:0], context.Cause(ctx)
	}
	return raw, nil
}

// deadLetter publishes an invalid message to STRATA_DLQ with its reason.
func (s *Shard) deadLetter(m jetstream.Msg, user string, seq uint64, cause error) (jetstream.PubAckFuture, error) {
	reason, detail := scoring.ReasonBadSubject, cause.Error()
	var inv *scoring.InvalidEventError
	if errors.As(cause, &inv) {
		reason, detail = inv.Reason, inv.Detail
	}
	if len(detail) > 512 {
		detail = detail[:512]
	}
	msg := &nats.Msg{Subject: DLQPrefix + reason, Data: m.Data(), Header: nats.Header{}}
	msg.Header.Set(HeaderError, reason)
	msg.Header.Set(HeaderDetail, detail)
	msg.Header.Set(HeaderSubject, EventsPrefix+user)
	msg.Header.Set(HeaderSeq, strconv.FormatUint(seq, 10))
	msg.Header.Set(jetstream.MsgIDHeader, "dlq:"+strconv.FormatUint(seq, 10))
	f, err := s.cfg.JS.PublishMsgAsync(msg, jetstream.WithStallWait(s.cfg.Config.ProposeTimeout))
	if err != nil {
		return nil, fmt.Errorf("dead-letter publish: %w", err)
	}
	s.cfg.Metrics.EventsDeadLettered.WithLabelValues(reason).Inc()
	return f, nil
}
