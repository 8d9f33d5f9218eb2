package bench

import (
	"flag"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestStreamingMemory streams 10M users' 20M events through the generator
// (with its Expected dry pass), the publisher's accounting and the tracker
// (synthetic acks, a backlog of 1000 events), without NATS or Strata: the
// bench's own memory, which must stay well under 1 GiB. Run with
// go test ./bench -run TestStreamingMemory -bench.memory -v.
var memoryRun = flag.Bool("bench.memory", false, "run TestStreamingMemory: 10M users, 20M events through the generator and the tracker (about a minute)")

func TestStreamingMemory(t *testing.T) {
	if !*memoryRun {
		t.Skip("-bench.memory not set")
	}
	users, events := 10_000_000, 20_000_000
	cfg := DefaultConfig()
	cfg.Users, cfg.Events = users, events
	now := time.Now()
	began := time.Now()
	gen, _ := NewGenerator(cfg.population(), now)
	_ = gen.Expected()
	t.Logf("expected pass %v", time.Since(began))
	marks := newSendMarks(events)
	r, cur, count := testRecorder(8, constant(0))
	seen := make([]uint64, (users+63)/64)
	var lastSeq [8]uint64
	batch := make([]acked, 0, 1024)
	var ms runtime.MemStats
	var peakHeap uint64
	seq := uint64(0)
	for i := int64(0); ; i++ {
		subject, _, shard, ok := gen.Next()
		if !ok {
			break
		}
		u, _ := strconv.ParseUint(subject[len("strata.events.")+1:], 10, 64)
		seen[u/64] |= 1 << (u % 64)
		marks.mark(i, time.Duration(i))
		seq++
		batch = append(batch, acked{seq: seq, due: time.Duration(i), shard: shard})
		lastSeq[shard] = seq
		if len(batch) == 1024 {
			_ = r.ack(ackBatch{acks: batch, sentBy: time.Duration(i)})
			batch = make([]acked, 0, 1024)
			count.Store(i + 1)
			for k := range cur {
				cur[k] = max(seq, 1000) - 1000 // a backlog of 1000 events
			}
			r.poll(time.Duration(i) + time.Millisecond)
		}
		if i%1_000_000 == 0 {
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
		}
	}
	runtime.ReadMemStats(&ms)
	t.Logf("%v: peak heap in use %d MiB, sys %d MiB, max RSS %d MiB, matched %d", time.Since(began),
		peakHeap>>20, ms.Sys>>20, peakRSS()>>20, r.matched)
	if rss := peakRSS(); rss > 1<<30 || r.matched < int64(events)-2000 {
		t.Fatalf("peak RSS %d MiB, %d events timed: want under 1 GiB, all but the last batch's", rss>>20, r.matched)
	}
}
