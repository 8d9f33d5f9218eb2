package storage_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/strata-io/strata/storage"
	"github.com/strata-io/strata/storage/storagetest"
)

const numKinds = 2 // users, events

// putUsers commits users [from, to) of tag, each with one dedupe entry "e".
func putUsers(t testing.TB, sh *storage.Shard, tag string, from, to int) {
	t.Helper()
	commit(t, sh, func(b *storage.Batch) {
		for i := from; i < to; i++ {
			u := fmt.Sprintf("%s-%d", tag, i)
			b.PutUser(u, []byte{byte(i)})
			b.PutEvent(u, "e", 1000)
		}
	})
}

// checkUsers fails unless every user [0, n) of tag has its state and event.
func checkUsers(t testing.TB, sh *storage.Shard, tag string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		u := fmt.Sprintf("%s-%d", tag, i)
		if v, ok, err := sh.User(u, nil); err != nil || !ok || !bytes.Equal(v, []byte{byte(i)}) {
			t.Fatalf("User(%s) = %v, %v, %v with filters", u, v, ok, err)
		}
		if ok, err := sh.HasEvent(u, "e"); err != nil || !ok {
			t.Fatalf("HasEvent(%s, e) = %v, %v with filters", u, ok, err)
		}
	}
}

// ruledOut counts the users of tag, and their events, the filters alone
// answer as absent.
func ruledOut(sh *storage.Shard, tag string, n int) (users, events int) {
	for i := 0; i < n; i++ {
		u := fmt.Sprintf("%s-%d", tag, i)
		if !storage.MayHaveUserForTest(sh, u) {
			users++
		}
		if !storage.MayHaveEventForTest(sh, u, "e") {
			events++
		}
	}
	return users, events
}

// Keys committed while builds (including rebuilds past capacity) run are
// never lost: the filters have no false negatives, whatever the interleaving.
func TestKeyFiltersConcurrentCommitsAndBuilds(t *testing.T) {
	sh := storagetest.Open(t).Shard(3)
	putUsers(t, sh, "old", 0, 5000)
	if !storage.MayHaveUserForTest(sh, "nobody") || !storage.MayHaveEventForTest(sh, "nobody", "e") {
		t.Fatal("filters answer before Track")
	}
	sh.Track()
	const writers, batches, per = 2, 40, 1000 // past the first capacity (64k): forces rebuilds
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < batches; i++ {
				putUsers(t, sh, fmt.Sprintf("new%d", w), i*per, (i+1)*per)
			}
		}()
	}
	// Builds race the commits all along.
	stop := make(chan struct{})
	rebuilt := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				rebuilt <- n
				return
			default:
			}
			sh.Track()
			storage.WaitFiltersForTest(sh)
			n++
		}
	}()
	wg.Wait()
	close(stop)
	t.Logf("%d rounds of builds during the commits", <-rebuilt)
	if users, events := storage.WaitFiltersForTest(sh); !users || !events {
		t.Fatalf("complete filters after the builds: users %v, events %v", users, events)
	}
	for _, st := range []storage.KeyFilterStats{sh.UserFilter(), sh.EventFilter()} {
		if n := int64(5000 + writers*batches*per); st.Capacity < n {
			t.Errorf("filter %+v after rebuilds, want capacity ≥ %d keys", st, n)
		}
	}
	checkUsers(t, sh, "old", 5000)
	for w := 0; w < writers; w++ {
		checkUsers(t, sh, fmt.Sprintf("new%d", w), batches*per)
	}
	if users, events := ruledOut(sh, "absent", 10000); users < 9700 || events < 9700 {
		t.Errorf("filters ruled out %d users and %d events of 10000 absent, want ≥ 9700 each", users, events)
	}
	if _, ok, err := sh.User("absent-1", nil); ok || err != nil {
		t.Errorf("User(absent-1) = %v, %v", ok, err)
	}
	if ok, err := sh.HasEvent("old-1", "other"); ok || err != nil {
		t.Errorf("HasEvent(old-1, other) = %v, %v", ok, err)
	}
}

// Keys committed after a build opened its iterator are not in its scan:
// the commits themselves must add them to the filter being built.
func TestKeyFiltersCommitsDuringBuild(t *testing.T) {
	sh := storagetest.Open(t).Shard(4)
	putUsers(t, sh, "old", 0, 5000)
	opened := make(chan struct{}, numKinds)
	proceed := make(chan struct{})
	storage.SetFilterBuildHookForTest(func() {
		opened <- struct{}{}
		<-proceed
	})
	defer storage.SetFilterBuildHookForTest(nil)
	sh.Track()
	<-opened // the first build (users) holds the DB's build slot until proceed
	putUsers(t, sh, "during", 0, 20000)
	close(proceed)
	if users, events := storage.WaitFiltersForTest(sh); !users || !events {
		t.Fatalf("complete filters: users %v, events %v", users, events)
	}
	for _, st := range []storage.KeyFilterStats{sh.UserFilter(), sh.EventFilter()} {
		if st.Capacity < 25000 || st.Keys > st.Capacity {
			t.Fatalf("filter %+v: a rebuild would hide lost adds", st)
		}
	}
	checkUsers(t, sh, "old", 5000)
	checkUsers(t, sh, "during", 20000)
	if users, events := ruledOut(sh, "absent", 10000); users < 9700 || events < 9700 {
		t.Errorf("filters ruled out %d users and %d events of 10000 absent, want ≥ 9700 each", users, events)
	}
}

// While Restore replaces the keys no build may run: one queued before
// would scan a half-replaced state and answer "absent" for restored keys.
func TestKeyFiltersNoBuildWhileSuspended(t *testing.T) {
	sh := storagetest.Open(t).Shard(5)
	putUsers(t, sh, "old", 0, 1000)
	release := storage.HoldFilterBuildsForTest(sh)
	sh.Track() // builds queued behind the held slot
	resume := storage.SuspendFiltersForTest(sh)
	release()
	if users, events := storage.WaitFiltersForTest(sh); users || events {
		t.Fatalf("a build queued before the suspension installed a filter: users %v, events %v", users, events)
	}
	putUsers(t, sh, "later", 0, 1000)
	resume()
	if users, events := storage.WaitFiltersForTest(sh); !users || !events {
		t.Fatalf("no filters after resume: users %v, events %v", users, events)
	}
	checkUsers(t, sh, "old", 1000)
	checkUsers(t, sh, "later", 1000)
}

// Expired dedupe entries leave the event filter when it is rebuilt.
func TestEventFilterForgetsExpiredOnRebuild(t *testing.T) {
	sh := storagetest.Open(t).Shard(0)
	putUsers(t, sh, "gone", 0, 3000)
	b := sh.NewBatch()
	if n, _, err := b.ExpireEvents(1000, 0); err != nil || n != 3000 {
		t.Fatalf("ExpireEvents = %d, %v", n, err)
	}
	if err := b.Commit(false); err != nil {
		t.Fatal(err)
	}
	b.Close()
	sh.Track()
	if users, events := storage.WaitFiltersForTest(sh); !users || !events {
		t.Fatal("no filters")
	}
	if _, events := ruledOut(sh, "gone", 3000); events < 2900 {
		t.Errorf("filter ruled out %d of 3000 expired events, want ≥ 2900", events)
	}
	for i := 0; i < 3000; i++ {
		if _, ok, _ := sh.User(fmt.Sprintf("gone-%d", i), nil); !ok {
			t.Fatalf("user gone-%d lost", i)
		}
	}
}

// Restore replaces the keys outside a Batch: the filters are rebuilt from the
// restored state; DropShard stops them.
func TestKeyFiltersRestoreAndDrop(t *testing.T) {
	db := storagetest.Open(t)
	src := db.Shard(1)
	putUsers(t, src, "snap", 0, 3000)
	snap := snapshotBytes(t, src)

	sh := db.Shard(2)
	putUsers(t, sh, "before", 0, 3000)
	sh.Track()
	if users, events := storage.WaitFiltersForTest(sh); !users || !events {
		t.Fatal("no filters")
	}
	if err := sh.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if users, events := storage.WaitFiltersForTest(sh); !users || !events {
		t.Fatal("no filters after restore")
	}
	checkUsers(t, sh, "snap", 3000)
	if users, events := ruledOut(sh, "before", 3000); users < 2900 || events < 2900 {
		t.Errorf("after restore the filters ruled out %d users and %d events of 3000 replaced, want ≥ 2900", users, events)
	}

	if err := db.DropShard(2); err != nil {
		t.Fatal(err)
	}
	if users, events := storage.WaitFiltersForTest(sh); users || events {
		t.Fatal("filters still in use after DropShard")
	}
	putUsers(t, sh, "again", 0, 10)
	checkUsers(t, sh, "again", 10)
}
