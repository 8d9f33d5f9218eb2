// Package storagetest provides the in-memory twin of package storage: the
// same Pebble engine and key layout on an in-memory file system, for tests.
package storagetest

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/strata-io/strata/storage"
)

// Open returns a storage.DB with the default options on a fresh
// vfs.NewMem(), closed by t.Cleanup (a failing Close fails the test).
// Cache memory is only allocated as it is used.
func Open(t testing.TB) *storage.DB {
	t.Helper()
	opts := storage.DefaultOptions()
	opts.FS = vfs.NewMem()
	db, err := storage.Open("strata", opts)
	if err != nil {
		t.Fatalf("storagetest: open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("storagetest: close: %v", err)
		}
	})
	return db
}
