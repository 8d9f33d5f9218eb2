package storage_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/strata-io/strata/storage"
	"github.com/strata-io/strata/storage/storagetest"
)

func commitBatch(t *testing.T, b *storage.Batch) {
	t.Helper()
	if err := b.Commit(false); err != nil {
		t.Fatal(err)
	}
	b.Close()
}

func TestMembersPageInIDOrder(t *testing.T) {
	sh := storagetest.Open(t).Shard(3)
	b := sh.NewBatch()
	for _, u := range []string{"carol", "alice", "dave", "bob"} {
		b.MoveMember("value", "", "whale", u)
	}
	b.MoveMember("value", "", "none", "erin")
	b.MoveMember("value", "whale", "none", "dave") // dave leaves the whales
	b.MoveMember("valuex", "", "whale", "zed")     // another dimension, same tier name
	commitBatch(t, b)
	var got []string
	more, err := sh.Members("value", "whale", "", 2, func(u string) error { got = append(got, u); return nil })
	if err != nil || !more || !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("first page %v more %v err %v", got, more, err)
	}
	got = nil
	more, err = sh.Members("value", "whale", "bob", 2, func(u string) error { got = append(got, u); return nil })
	if err != nil || more || !slices.Equal(got, []string{"carol"}) {
		t.Fatalf("second page %v more %v err %v", got, more, err)
	}
	got = nil
	if _, err := sh.Members("value", "none", "", 0, func(u string) error { got = append(got, u); return nil }); err != nil || !slices.Equal(got, []string{"dave", "erin"}) {
		t.Fatalf("none: %v %v", got, err)
	}
}

func TestHistoryKeepsTheNewest(t *testing.T) {
	sh := storagetest.Open(t).Shard(0)
	const keep = 4
	for n := uint64(1); n <= 11; n++ {
		b := sh.NewBatch()
		b.AddHistory("u", n, []byte(fmt.Sprint(n)), keep)
		b.AddHistory("u2", n, []byte("other"), keep)
		commitBatch(t, b)
		var got []string
		if err := sh.History("u", keep, func(_ uint64, e []byte) error { got = append(got, string(e)); return nil }); err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := max(1, int(n)-keep+1); i <= int(n); i++ {
			want = append(want, fmt.Sprint(i))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("after %d: %v, want %v", n, got, want)
		}
		stored := 0
		if err := sh.History("u", 0, func(uint64, []byte) error { stored++; return nil }); err != nil {
			t.Fatal(err)
		}
		if stored > 2*keep-1 {
			t.Fatalf("after %d: %d entries stored, at most %d", n, stored, 2*keep-1)
		}
	}
}

func TestUsersAfter(t *testing.T) {
	sh := storagetest.Open(t).Shard(1)
	b := sh.NewBatch()
	for _, u := range []string{"a", "ab", "b", "c"} {
		b.PutUser(u, []byte{1})
	}
	commitBatch(t, b)
	var got []string
	more, err := sh.UsersAfter("a", 2, func(u string) error { got = append(got, u); return nil })
	if err != nil || !more || !slices.Equal(got, []string{"ab", "b"}) {
		t.Fatalf("%v more %v err %v", got, more, err)
	}
}
