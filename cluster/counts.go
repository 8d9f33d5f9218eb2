package cluster

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/strata-io/strata/storage"
)

// A shard's tier counts, written in their own key at every commit that
// changes them (the model record, with the models' texts, only when it
// changes):
//
//	byte 1 · uvarint n · n × (byte kind · str dim · str from · str to · varint count)
//	       · uvarint m · m × (str dim · varint hour · varint count)
//
// counts sorted by (kind, dim, from, to), non-zero only; hourly by (dim, hour).
const countsVersion = 1

func (k countKey) compare(o countKey) int {
	return cmp.Or(cmp.Compare(k.kind, o.kind), strings.Compare(k.dim, o.dim),
		strings.Compare(k.from, o.from), strings.Compare(k.to, o.to))
}

// putCounts writes the counts into the pending batch.
func (f *FSM) putCounts(b *storage.Batch) {
	keys := f.countKeys[:0]
	for k, n := range f.counts {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, countKey.compare)
	hours := f.hourKeys[:0]
	for _, c := range f.hourly {
		hours = append(hours, c)
	}
	slices.SortFunc(hours, func(a, b hourCount) int {
		return cmp.Or(strings.Compare(a.Dim, b.Dim), cmp.Compare(a.Hour, b.Hour))
	})
	buf := append(f.buf[:0], countsVersion)
	buf = binary.AppendUvarint(buf, uint64(len(keys)))
	for _, k := range keys {
		buf = append(buf, k.kind)
		buf = appendString(buf, k.dim)
		buf = appendString(buf, k.from)
		buf = appendString(buf, k.to)
		buf = binary.AppendVarint(buf, f.counts[k])
	}
	buf = binary.AppendUvarint(buf, uint64(len(hours)))
	for _, h := range hours {
		buf = appendString(buf, h.Dim)
		buf = binary.AppendVarint(buf, h.Hour)
		buf = binary.AppendVarint(buf, h.N)
	}
	b.PutCounts(buf)
	f.buf, f.countKeys, f.hourKeys = buf, keys, hours
	f.countsDirty = false
}

// maxCountEntries bounds the entries of a decoded counts record.
const maxCountEntries = 1 << 20

// loadCounts reads the shard's counts (none: empty).
func (f *FSM) loadCounts() error {
	f.counts, f.hourly = map[countKey]int64{}, map[hourSlot]hourCount{}
	b, found, err := f.store.Counts(nil)
	if err != nil || !found {
		return err
	}
	if len(b) == 0 || b[0] != countsVersion {
		return fmt.Errorf("cluster: shard %d counts: %w: version", f.cfg.Shard, storage.ErrCorrupt)
	}
	d := decoder{b: b[1:]}
	n := d.uvarint("counts")
	if n > maxCountEntries {
		d.fail("counts")
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var k countKey
		if len(d.b) == 0 {
			d.fail("kind")
			break
		}
		k.kind, d.b = d.b[0], d.b[1:]
		k.dim, k.from, k.to = string(d.bytes("dim")), string(d.bytes("from")), string(d.bytes("to"))
		f.counts[k] = d.varint("count")
	}
	m := d.uvarint("hours")
	if m > maxCountEntries {
		d.fail("hours")
	}
	for i := uint64(0); i < m && d.err == nil; i++ {
		c := hourCount{Dim: string(d.bytes("dim")), Hour: d.varint("hour"), N: d.varint("count")}
		f.hourly[hourSlot{c.Dim, c.Hour % hourKeep}] = c
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return fmt.Errorf("cluster: shard %d counts: %w: %v", f.cfg.Shard, storage.ErrCorrupt, d.err)
	}
	return nil
}
