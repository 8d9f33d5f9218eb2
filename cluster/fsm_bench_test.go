package cluster

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"unsafe"

	"github.com/hashicorp/raft"

	"github.com/strata-io/strata/scoring"
	"github.com/strata-io/strata/storage"
	"github.com/strata-io/strata/storage/storagetest"
)

// BenchmarkApplyBatch measures the FSM applying one ingest entry of random
// events over a population whose every user already has state: decode,
// dedupe lookups, scoring, state/timer/outbox writes and the commit. resident
// is the actor cache capacity; below the population, most users are loaded
// from Pebble. fs=mem is storagetest's in-memory Pebble (its growing
// in-memory WAL file costs copying and GC that a disk does not); fs=disk is
// Pebble in a temporary directory (NoSync commits, as in production).
func BenchmarkApplyBatch(b *testing.B) {
	for _, bc := range []struct {
		disk                    bool
		events, users, resident int
	}{
		{false, 100, 100_000, 100_000},
		{false, 1000, 100_000, 100_000},
		{true, 1000, 100_000, 100_000},
		{true, 1000, 100_000, 10_000},
	} {
		fs := "mem"
		if bc.disk {
			fs = "disk"
		}
		b.Run(fmt.Sprintf("fs=%s/events=%d/users=%d/resident=%d", fs, bc.events, bc.users, bc.resident), func(b *testing.B) {
			var db *storage.DB
			if bc.disk {
				db = openDiskDB(b)
			} else {
				db = storagetest.Open(b)
			}
			benchApplyBatch(b, db, bc.events, bc.users, bc.resident)
		})
	}
}

func openDiskDB(b *testing.B) *storage.DB {
	db, err := storage.Open(b.TempDir(), storage.Options{CacheSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	})
	return db
}

func benchApplyBatch(b *testing.B, db *storage.DB, perEntry, users, resident int) *FSM {
	cfg := testFSMConfig(b, db)
	cfg.Actors.Capacity = resident
	cfg.History = 10 // the default of Config.History
	f := newTestFSMConfig(b, cfg)
	names := make([]string, users)
	for i := range names {
		names[i] = fmt.Sprintf("user-%06d", i)
	}
	bld := entryBuilder{index: f.Meta().AppliedIndex}
	now := testStart
	const warm = 1000
	evs := make([]scoring.Event, 0, warm)
	for i := 0; i < users; i += warm {
		evs = evs[:0]
		for j := i; j < min(i+warm, users); j++ {
			evs = append(evs, ev(names[j], "warm", scoring.TypeSignup, now-testHour, 0))
		}
		f.Apply(bld.ingest(now, evs...))
		now += 1000
	}
	f.Apply(bld.trim(now, f.Meta().OutboxNext-1)) // the warm-up's transitions were published

	rng := rand.New(rand.NewPCG(1, 2))
	evs = make([]scoring.Event, perEntry)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		now += 1000
		prefix := "b" + strconv.Itoa(i) + "-"
		for j := range evs {
			typ := genTypes[rng.IntN(len(genTypes))]
			var amount int64
			if typ == scoring.TypePurchase || typ == scoring.TypeRefund {
				amount = (1 + rng.Int64N(500)) * 1000
			}
			evs[j] = ev(names[rng.IntN(users)], prefix+strconv.Itoa(j), typ, now-rng.Int64N(scoring.Day), amount)
		}
		l := bld.ingest(now, evs...)
		b.StartTimer()
		f.ApplyBatch([]*raft.Log{l})
	}
	b.ReportMetric(float64(perEntry)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	return f
}

// BenchmarkApplyNewUsers measures the FSM applying entries of 1000 events of
// users it has never seen, on a disk Pebble already holding 300 000 users:
// the onboarding burst of a large population, where every state load is a
// miss (answered by the user filter once it is built).
func BenchmarkApplyNewUsers(b *testing.B) {
	db := openDiskDB(b)
	cfg := testFSMConfig(b, db)
	cfg.Actors.Capacity = 10_000
	f := newTestFSMConfig(b, cfg)
	var bld entryBuilder
	now := testStart
	const warmUsers, perEntry = 300_000, 1000
	evs := make([]scoring.Event, perEntry)
	for i := 0; i < warmUsers; i += perEntry {
		for j := range evs {
			evs[j] = ev("user-"+strconv.Itoa(i+j), "warm", scoring.TypeSignup, now-testHour, 0)
		}
		f.Apply(bld.ingest(now, evs...))
		f.Apply(bld.trim(now, f.Meta().OutboxNext-1))
		now += 1000
	}
	for st := f.store.UserFilter(); !st.Ready || st.Building || f.store.EventFilter().Building; st = f.store.UserFilter() {
		runtime.Gosched()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		now += 1000
		for j := range evs {
			u := "new-" + strconv.Itoa(i) + "-" + strconv.Itoa(j)
			typ, amount := scoring.TypeSignup, int64(0)
			if j%4 == 0 {
				typ, amount = scoring.TypePurchase, int64(1+j%500)*1000
			}
			evs[j] = ev(u, "e1", typ, now-testHour, amount)
		}
		l := bld.ingest(now, evs...)
		b.StartTimer()
		f.ApplyBatch([]*raft.Log{l})
		b.StopTimer()
		f.Apply(bld.trim(now, f.Meta().OutboxNext-1))
		b.StartTimer()
	}
	b.ReportMetric(float64(perEntry)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkApplyModels is BenchmarkApplyBatch (1000 events an entry, 100 000
// users, all resident, in-memory Pebble) under the built-in model and under
// model files, and reports what a user costs under each: timers per user
// (one at most: the earliest deadline of its dimensions), the bytes of its
// stored state, and member-index and history entries per user.
func BenchmarkApplyModels(b *testing.B) {
	for _, file := range []string{"", "default.hcl", "edu-value.hcl", "rfm-segments.hcl"} {
		name := "builtin"
		if file != "" {
			name = file
		}
		b.Run("model="+name, func(b *testing.B) {
			db := storagetest.Open(b)
			if file != "" {
				f := newTestFSM(b, db)
				var plan ModelPlan
				var bld entryBuilder
				if err := plan.apply(&ModelChange{Action: ModelActivate, Source: loadExampleModel(b, file)}); err != nil {
					b.Fatal(err)
				}
				data, err := appendModel(nil, testStart-testHour, &plan)
				if err != nil {
					b.Fatal(err)
				}
				f.Apply(bld.log(data))
			}
			f := benchApplyBatch(b, db, 1000, 100_000, 100_000)
			b.StopTimer()
			reportPerUser(b, db)
			// Every user is resident: what its states take in the actor cache.
			var mem, n float64
			for i := range 100_000 {
				f.host.Peek(fmt.Sprintf("user-%06d", i), func(u *userState) {
					mem += float64(int(unsafe.Sizeof(*u)) - int(unsafe.Sizeof(u.s)) + u.s.MemSize())
					if u.shadow != nil {
						mem += float64(u.shadow.MemSize())
					}
					n++
				})
			}
			if n > 0 {
				b.ReportMetric(mem/n, "mem-B/user")
			}
		})
	}
}

// reportPerUser reports timers, stored state bytes, member-index and
// history entries per user of shard 0.
func reportPerUser(b *testing.B, db *storage.DB) {
	sh := db.Shard(0)
	var users, bytes, timers float64
	if err := sh.Users(func(_ string, v []byte) error {
		users++
		bytes += float64(len(v))
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	if err := sh.DueTimers(scoring.MaxTime, func(int64, string) error { timers++; return nil }); err != nil {
		b.Fatal(err)
	}
	if users == 0 {
		return
	}
	b.ReportMetric(timers/users, "timers/user")
	b.ReportMetric(bytes/users, "state-B/user")
}
