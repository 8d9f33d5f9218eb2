package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// population is the seeded events of a run, in send order.
type population struct {
	payloads [][]byte
	subjects []string
	shard    []uint16 // shard of each event's user
	expect   Expectation
}

// newPopulation builds the run's events with the realistic generator
// (population.go): Zipf activity, lifecycle cohorts, log-normal orders with
// whales, refunds, coupon abusers; time-ordered over the last 40 days.
func newPopulation(cfg Config) (population, error) {
	pc := DefaultPopulation()
	pc.Users, pc.Events, pc.Seed, pc.Shards = cfg.Users, cfg.Events, cfg.Seed, cfg.Shards
	gen, err := NewGenerator(pc, time.Now())
	if err != nil {
		return population{}, err
	}
	p := population{
		payloads: make([][]byte, 0, cfg.Events),
		subjects: make([]string, 0, cfg.Events),
		shard:    make([]uint16, 0, cfg.Events),
	}
	for {
		subject, payload, shard, ok := gen.Next()
		if !ok {
			break
		}
		p.payloads = append(p.payloads, payload)
		p.subjects = append(p.subjects, subject)
		p.shard = append(p.shard, shard)
	}
	p.expect = gen.Expected()
	return p, nil
}

// sent is what publish observed, per event in send order.
type sent struct {
	sched []time.Duration // scheduled send time after the epoch (unpaced: the actual send)
	seq   []uint64        // STRATA_EVENTS sequence from the publish ack
	acked time.Duration   // epoch → last ack
}

// pending is one unacknowledged publish, in send order.
type pending struct {
	i   int
	ack jetstream.PubAckFuture
}

// publish sends the population through JetStream, open loop: with rate > 0
// event i is due at epoch + i/rate, whatever happened to earlier events, and
// the publisher sleeps only when it is ahead of that schedule (so pacing
// never drifts). When 8192 publishes are unacknowledged it blocks: events
// then leave late and their latency, counted from the schedule, shows it.
func publish(ctx context.Context, js jetstream.JetStream, pop population, rate int, epoch time.Time) (sent, error) {
	n := len(pop.payloads)
	s := sent{sched: make([]time.Duration, n), seq: make([]uint64, n)}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// The collector owns s.seq until it closes done.
	acks := make(chan pending, 16384)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for p := range acks {
			select {
			case a := <-p.ack.Ok():
				s.seq[p.i] = a.Sequence
			case err := <-p.ack.Err():
				cancel(fmt.Errorf("bench: publish event %d: %w", p.i, err))
				return
			case <-ctx.Done():
				return
			}
		}
		s.acked = time.Since(epoch)
	}()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var err error
	for i := 0; i < n && err == nil; i++ {
		if rate > 0 {
			s.sched[i] = time.Duration(int64(i) * int64(time.Second) / int64(rate))
			if d := s.sched[i] - time.Since(epoch); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
					err = context.Cause(ctx)
					continue
				}
			}
		} else {
			s.sched[i] = time.Since(epoch)
		}
		var f jetstream.PubAckFuture
		f, err = js.PublishAsync(pop.subjects[i], pop.payloads[i], jetstream.WithStallWait(time.Minute))
		if err != nil {
			err = fmt.Errorf("bench: publish event %d: %w", i, err)
			break
		}
		select {
		case acks <- pending{i, f}:
		case <-ctx.Done():
			err = context.Cause(ctx)
		}
	}
	close(acks)
	<-done
	if err == nil {
		err = context.Cause(ctx) // a failed ack, or the caller's ctx
	}
	return s, err
}

// lastSeqs returns, per shard, the highest sequence of the events sent to it.
func lastSeqs(seq []uint64, shard []uint16, shards int) []uint64 {
	last := make([]uint64, shards)
	for i, q := range seq {
		last[shard[i]] = max(last[shard[i]], q)
	}
	return last
}
