package storage_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/strata-io/strata/storage"
	"github.com/strata-io/strata/storage/storagetest"
)

// putUsers commits users [from, to) of tag in one batch.
func putUsers(t testing.TB, sh *storage.Shard, tag string, from, to int) {
	t.Helper()
	commit(t, sh, func(b *storage.Batch) {
		for i := from; i < to; i++ {
			b.PutUser(fmt.Sprintf("%s-%d", tag, i), []byte{byte(i)})
		}
	})
}

// checkUsers fails unless every user [0, n) of tag has its state.
func checkUsers(t testing.TB, sh *storage.Shard, tag string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		u := fmt.Sprintf("%s-%d", tag, i)
		if v, ok, err := sh.User(u, nil); err != nil || !ok || !bytes.Equal(v, []byte{byte(i)}) {
			t.Fatalf("User(%s) = %v, %v, %v after the filter was built", u, v, ok, err)
		}
	}
}

// absentAnswered counts the absent users of tag the filter alone rules out.
func absentAnswered(sh *storage.Shard, tag string, n int) int {
	answered := 0
	for i := 0; i < n; i++ {
		if !storage.MayHaveUserForTest(sh, fmt.Sprintf("%s-%d", tag, i)) {
			answered++
		}
	}
	return answered
}

// Users committed while builds (including growth past capacity) run are
// never lost: the filter has no false negatives, whatever the interleaving.
func TestUserFilterConcurrentCommitsAndBuilds(t *testing.T) {
	sh := storagetest.Open(t).Shard(3)
	putUsers(t, sh, "old", 0, 5000)
	if storage.MayHaveUserForTest(sh, "nobody") != true {
		t.Fatal("filter answers before TrackUsers")
	}
	sh.TrackUsers(0) // sized far below what follows: forces growth
	const writers, batches, per = 2, 100, 1000
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < batches; i++ {
				putUsers(t, sh, fmt.Sprintf("new%d", w), i*per, (i+1)*per)
				if i == batches/2 {
					sh.TrackUsers(1000) // a rebuild racing the commits
				}
			}
		}()
	}
	wg.Wait()
	if !storage.WaitUserFilterForTest(sh) {
		t.Fatal("no complete filter after the builds")
	}
	if c, n := storage.UserFilterCapacityForTest(sh), int64(5000+writers*batches*per); c < n {
		t.Errorf("filter capacity %d after growth, want ≥ %d users", c, n)
	}
	checkUsers(t, sh, "old", 5000)
	for w := 0; w < writers; w++ {
		checkUsers(t, sh, fmt.Sprintf("new%d", w), batches*per)
	}
	if n := absentAnswered(sh, "absent", 10000); n < 9700 {
		t.Errorf("filter ruled out %d of 10000 absent users, want ≥ 9700", n)
	}
	if _, ok, err := sh.User("absent-1", nil); ok || err != nil {
		t.Errorf("User(absent-1) = %v, %v", ok, err)
	}
}

// Restore replaces the users outside a Batch: the filter is rebuilt from the
// restored state; DropShard stops it.
func TestUserFilterRestoreAndDrop(t *testing.T) {
	db := storagetest.Open(t)
	src := db.Shard(1)
	putUsers(t, src, "snap", 0, 3000)
	snap := snapshotBytes(t, src)

	sh := db.Shard(2)
	putUsers(t, sh, "before", 0, 3000)
	sh.TrackUsers(3000)
	if !storage.WaitUserFilterForTest(sh) {
		t.Fatal("no filter")
	}
	if err := sh.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if !storage.WaitUserFilterForTest(sh) {
		t.Fatal("no filter after restore")
	}
	checkUsers(t, sh, "snap", 3000)
	if n := absentAnswered(sh, "before", 3000); n < 2900 {
		t.Errorf("after restore the filter ruled out %d of 3000 replaced users, want ≥ 2900", n)
	}

	if err := db.DropShard(2); err != nil {
		t.Fatal(err)
	}
	if storage.WaitUserFilterForTest(sh) {
		t.Fatal("filter still in use after DropShard")
	}
	putUsers(t, sh, "again", 0, 10)
	checkUsers(t, sh, "again", 10)
}
