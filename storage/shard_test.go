package storage_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/strata-io/strata/storage"
	"github.com/strata-io/strata/storage/storagetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// commit runs fn on a new batch of sh and commits it (NoSync).
func commit(t testing.TB, sh *storage.Shard, fn func(b *storage.Batch)) {
	t.Helper()
	b := sh.NewBatch()
	defer b.Close()
	fn(b)
	if err := b.Commit(false); err != nil {
		t.Fatal(err)
	}
}

func TestMetaRoundTrip(t *testing.T) {
	sh := storagetest.Open(t).Shard(0)
	m, err := sh.Meta()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, storage.Meta{OutboxNext: 1}) {
		t.Fatalf("empty Meta = %+v, want OutboxNext 1", m)
	}
	want := storage.Meta{AppliedIndex: 7, Cursor: 99, Now: 1700000000000, OutboxNext: 4, OutboxTrimmed: 2, Counts: []int64{3, 0, -1}}
	commit(t, sh, func(b *storage.Batch) { b.PutMeta(want) })
	if m, err = sh.Meta(); err != nil || !reflect.DeepEqual(m, want) {
		t.Fatalf("Meta = %+v, %v, want %+v", m, err, want)
	}
}

func TestUsers(t *testing.T) {
	db := storagetest.Open(t)
	sh := db.Shard(1)
	users := []string{"b", "a", "a\x00", "\x00", "zz", "u42"}
	b := sh.NewBatch()
	for _, u := range users {
		b.PutUser(u, []byte("state-"+u))
	}
	if b.Len() != len(users) {
		t.Fatalf("Len = %d, want %d", b.Len(), len(users))
	}
	// Not visible before Commit.
	if _, ok, _ := sh.User("a", nil); ok {
		t.Fatal("uncommitted user visible")
	}
	if err := b.Commit(false); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(false); !errors.Is(err, storage.ErrBatchDone) {
		t.Fatalf("second Commit err = %v, want ErrBatchDone", err)
	}
	b.Close()
	b.Close()

	dst := []byte("prefix:")
	got, ok, err := sh.User("a\x00", dst)
	if err != nil || !ok || string(got) != "prefix:state-a\x00" {
		t.Fatalf("User = %q, %v, %v", got, ok, err)
	}
	got, ok, err = sh.User("nobody", dst)
	if err != nil || ok || string(got) != "prefix:" {
		t.Fatalf("User(nobody) = %q, %v, %v", got, ok, err)
	}
	if _, ok, _ := db.Shard(2).User("a", nil); ok {
		t.Fatal("user visible in another shard")
	}

	commit(t, sh, func(b *storage.Batch) { b.DeleteUser("zz") })
	var order []string
	err = sh.Users(func(user string, state []byte) error {
		if string(state) != "state-"+user {
			t.Errorf("Users: %q has state %q", user, state)
		}
		order = append(order, user)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"\x00", "a", "a\x00", "b", "u42"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("Users order = %q, want %q", order, want)
	}
	stop := errors.New("stop")
	if err := sh.Users(func(string, []byte) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Users callback error = %v, want stop", err)
	}
}

func TestEvents(t *testing.T) {
	sh := storagetest.Open(t).Shard(0)
	has := func(user, id string) bool {
		t.Helper()
		ok, err := sh.HasEvent(user, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	commit(t, sh, func(b *storage.Batch) {
		b.PutEvent("u1", "e1", 100)
		b.PutEvent("u1", "e2", 200)
		b.PutEvent("u2", "e1", 100)
		b.PutEvent("u1\x00", "e1", 100) // escaped user: no collision with ("u1", "\x00e1")
		b.PutEvent("early", "x", -5)
	})
	if !has("u1", "e1") || !has("u2", "e1") || !has("u1\x00", "e1") || has("u1", "\x00e1") || has("u1", "e3") {
		t.Fatal("HasEvent wrong after PutEvent")
	}

	// Re-put with a later expiry: the old index entry must not delete it.
	commit(t, sh, func(b *storage.Batch) { b.PutEvent("u2", "e1", 300) })

	expire := func(upTo int64) int {
		t.Helper()
		b := sh.NewBatch()
		defer b.Close()
		n, more, err := b.ExpireEvents(upTo, 0)
		if more {
			t.Fatal("ExpireEvents without a limit reports more")
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(false); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := expire(99); n != 1 || has("early", "x") {
		t.Fatalf("ExpireEvents(99) = %d, early present %v; want 1, false", n, has("early", "x"))
	}
	if n := expire(100); n != 2 {
		t.Fatalf("ExpireEvents(100) = %d, want 2", n)
	}
	if has("u1", "e1") || has("u1\x00", "e1") || !has("u1", "e2") || !has("u2", "e1") {
		t.Fatal("wrong events expired at 100")
	}
	if n := expire(250); n != 1 || has("u1", "e2") || !has("u2", "e1") {
		t.Fatalf("ExpireEvents(250) = %d", n)
	}
	if n := expire(math.MaxInt64); n != 1 || has("u2", "e1") {
		t.Fatalf("ExpireEvents(max) = %d", n)
	}
	if n := expire(math.MaxInt64); n != 0 {
		t.Fatalf("ExpireEvents on empty set = %d", n)
	}
	// Nothing left at all: expiry index entries are gone too.
	if h, h0 := hash(t, sh), hash(t, storagetest.Open(t).Shard(0)); h != h0 {
		t.Fatal("state not empty after expiring everything")
	}
}

func TestTimers(t *testing.T) {
	sh := storagetest.Open(t).Shard(5)
	commit(t, sh, func(b *storage.Batch) {
		b.SetTimer("c", 0, 20)
		b.SetTimer("a", 0, 20)
		b.SetTimer("b", 0, 10)
		b.SetTimer("neg", 0, -3)
		b.SetTimer("late", 0, 1000)
		b.SetTimer("none", 0, 0) // no timer
	})
	due := func(upTo int64) []string {
		t.Helper()
		var got []string
		err := sh.DueTimers(upTo, func(due int64, user string) error {
			got = append(got, fmt.Sprintf("%d:%s", due, user))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	tests := []struct {
		upTo int64
		want []string
	}{
		{-4, nil},
		{-3, []string{"-3:neg"}},
		{19, []string{"-3:neg", "10:b"}},
		{20, []string{"-3:neg", "10:b", "20:a", "20:c"}},
		{math.MaxInt64, []string{"-3:neg", "10:b", "20:a", "20:c", "1000:late"}},
	}
	for _, tt := range tests {
		if got := due(tt.upTo); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("DueTimers(%d) = %q, want %q", tt.upTo, got, tt.want)
		}
	}
	// Move b later, cancel a.
	commit(t, sh, func(b *storage.Batch) {
		b.SetTimer("b", 10, 30)
		b.SetTimer("a", 20, 0)
	})
	if got, want := due(30), []string{"-3:neg", "20:c", "30:b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after moves DueTimers(30) = %q, want %q", got, want)
	}
}

func TestOutbox(t *testing.T) {
	sh := storagetest.Open(t).Shard(2)
	commit(t, sh, func(b *storage.Batch) {
		for seq := uint64(1); seq <= 10; seq++ {
			b.AppendOutbox(seq, []byte(fmt.Sprintf("rec-%d", seq)))
		}
	})
	read := func(from uint64, max int) []uint64 {
		t.Helper()
		var seqs []uint64
		err := sh.Outbox(from, max, func(seq uint64, rec []byte) error {
			if string(rec) != fmt.Sprintf("rec-%d", seq) {
				t.Errorf("seq %d rec %q", seq, rec)
			}
			seqs = append(seqs, seq)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return seqs
	}
	if got := read(0, 0); len(got) != 10 || got[0] != 1 || got[9] != 10 {
		t.Fatalf("Outbox(0, all) = %v", got)
	}
	if got := read(4, 3); !reflect.DeepEqual(got, []uint64{4, 5, 6}) {
		t.Fatalf("Outbox(4, 3) = %v", got)
	}
	commit(t, sh, func(b *storage.Batch) { b.TrimOutbox(6) })
	if got := read(0, 0); !reflect.DeepEqual(got, []uint64{7, 8, 9, 10}) {
		t.Fatalf("after TrimOutbox(6) = %v", got)
	}
	commit(t, sh, func(b *storage.Batch) { b.TrimOutbox(math.MaxUint64) })
	if got := read(0, 0); len(got) != 0 {
		t.Fatalf("after TrimOutbox(max) = %v", got)
	}
}

// TestConcurrentReadsAndWrites runs readers against one writer (-race).
func TestConcurrentReadsAndWrites(t *testing.T) {
	sh := storagetest.Open(t).Shard(0)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := sh.HasEvent("u", "e"); err != nil {
					t.Error(err)
					return
				}
				if _, _, err := sh.User("u", nil); err != nil {
					t.Error(err)
					return
				}
				if _, err := sh.Meta(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		commit(t, sh, func(b *storage.Batch) {
			b.PutUser("u", []byte{byte(i)})
			b.PutEvent("u", fmt.Sprint(i), int64(i))
			b.PutMeta(storage.Meta{AppliedIndex: uint64(i)})
		})
	}
	close(done)
	wg.Wait()
}

// ExpireEvents looks at no more than max index entries, oldest first.
func TestExpireEventsLimit(t *testing.T) {
	sh := storagetest.Open(t).Shard(0)
	commit(t, sh, func(b *storage.Batch) {
		for i := range 5 {
			b.PutEvent("u", string(rune('a'+i)), int64(10*(i+1)))
		}
	})
	var got []int
	var mores []bool
	for range 3 {
		b := sh.NewBatch()
		n, more, err := b.ExpireEvents(100, 2)
		if err != nil {
			t.Fatal(err)
		}
		mores = append(mores, more)
		if err := b.Commit(false); err != nil {
			t.Fatal(err)
		}
		b.Close()
		got = append(got, n)
	}
	if !reflect.DeepEqual(got, []int{2, 2, 1}) || !reflect.DeepEqual(mores, []bool{true, true, false}) {
		t.Fatalf("expired per call %v, more %v; want [2 2 1], [true true false]", got, mores)
	}
	for i, want := range []bool{false, false, false, false, false} {
		if ok, _ := sh.HasEvent("u", string(rune('a'+i))); ok != want {
			t.Errorf("event %c present %v", 'a'+i, ok)
		}
	}
}
