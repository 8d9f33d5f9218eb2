package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Snapshot stream format, version 1:
//
//	header  "STRATASN" | version u8 (1)
//	frame*  kind u8 | length u32 | payload | crc32c(kind | length | payload) u32
//	  data  (kind 1): pairs of uvarint len | key | uvarint len | value, keys
//	        without the space | shard prefix, strictly ascending across frames
//	  end   (kind 2, last): pairs u64 | crc32c of every byte before this frame u32
//	then EOF.
//
// Integers are big-endian. Keys carry no shard number, so a snapshot taken
// from shard 3 of one node restores into shard 3 of another.
const (
	snapMagic        = "STRATASN"
	snapVersion      = 1
	frameData   byte = 1
	frameEnd    byte = 2
	frameHdr         = 5 // kind + length
	frameTrail       = 4 // crc
	endPayload       = 12
	// chunkTarget is the payload size at which a data frame is flushed.
	chunkTarget = 64 << 10
	// maxFrame bounds a frame's payload (and so one key/value pair). Restore
	// rejects larger frames before allocating for them.
	maxFrame = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot is a consistent, point-in-time view of one shard's FSM state (not
// its Raft log). Taking it is cheap (a Pebble snapshot); WriteTo may run
// concurrently with later batches. Close it when done; DB.Close closes
// snapshots still open.
type Snapshot struct {
	s  *Shard
	mu struct {
		sync.Mutex
		ps *pebble.Snapshot // nil once closed
	}
}

var _ io.WriterTo = (*Snapshot)(nil)

// Snapshot captures the shard's current FSM state.
func (s *Shard) Snapshot() *Snapshot {
	sn := &Snapshot{s: s}
	if s.db.enter() != nil {
		return sn // WriteTo will return ErrClosed
	}
	defer s.db.leave()
	sn.mu.ps = s.db.pdb.NewSnapshot()
	s.db.mu.Lock()
	s.db.mu.snaps[sn] = struct{}{}
	s.db.mu.Unlock()
	return sn
}

// WriteTo writes the snapshot as a versioned, checksummed stream (see the
// format above) and returns the number of bytes written. It may be called
// more than once.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.mu.ps == nil {
		return 0, ErrClosed
	}
	db := sn.s.db
	if err := db.enter(); err != nil {
		return 0, err
	}
	defer db.leave()

	sw := &streamWriter{w: w, crc: crc32.New(castagnoli)}
	sw.write(append([]byte(snapMagic), snapVersion))
	var pairs uint64
	payload := make([]byte, 0, chunkTarget+1024)
	lower, upper := fsmBounds(sn.s.id)
	err := scanReader(sn.mu.ps, lower, upper, func(k, v []byte) error {
		k = k[shardPrefixLen:]
		size := 2*binary.MaxVarintLen32 + len(k) + len(v)
		if size > maxFrame {
			return fmt.Errorf("storage: snapshot shard %d: pair of %d bytes exceeds %d", sn.s.id, size, maxFrame)
		}
		if len(payload) > 0 && len(payload)+size > chunkTarget {
			sw.frame(frameData, payload)
			payload = payload[:0]
		}
		payload = binary.AppendUvarint(payload, uint64(len(k)))
		payload = append(payload, k...)
		payload = binary.AppendUvarint(payload, uint64(len(v)))
		payload = append(payload, v...)
		pairs++
		return sw.err
	})
	if err != nil {
		return sw.n, fmt.Errorf("storage: snapshot shard %d: %w", sn.s.id, err)
	}
	if len(payload) > 0 {
		sw.frame(frameData, payload)
	}
	end := binary.BigEndian.AppendUint64(make([]byte, 0, endPayload), pairs)
	end = binary.BigEndian.AppendUint32(end, sw.crc.Sum32())
	sw.frame(frameEnd, end)
	if sw.err != nil {
		return sw.n, fmt.Errorf("storage: snapshot shard %d: %w", sn.s.id, sw.err)
	}
	return sw.n, nil
}

// streamWriter writes frames, keeping a running CRC of everything written.
type streamWriter struct {
	w   io.Writer
	crc interface {
		io.Writer
		Sum32() uint32
	}
	n   int64
	err error
	hdr [frameHdr]byte
}

func (sw *streamWriter) write(p []byte) {
	if sw.err != nil {
		return
	}
	n, err := sw.w.Write(p)
	sw.n += int64(n)
	sw.err = err
	sw.crc.Write(p)
}

func (sw *streamWriter) frame(kind byte, payload []byte) {
	sw.hdr[0] = kind
	binary.BigEndian.PutUint32(sw.hdr[1:], uint32(len(payload)))
	c := crc32.Update(0, castagnoli, sw.hdr[:])
	c = crc32.Update(c, castagnoli, payload)
	sw.write(sw.hdr[:])
	sw.write(payload)
	sw.write(binary.BigEndian.AppendUint32(nil, c))
}

// Close releases the snapshot. It is safe to call more than once.
func (sn *Snapshot) Close() error {
	db := sn.s.db
	db.mu.Lock()
	delete(db.mu.snaps, sn)
	db.mu.Unlock()
	return sn.release()
}

func (sn *Snapshot) release() error {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.mu.ps == nil {
		return nil
	}
	err := sn.mu.ps.Close()
	sn.mu.ps = nil
	if err != nil {
		return fmt.Errorf("storage: close snapshot shard %d: %w", sn.s.id, err)
	}
	return nil
}

// Restore replaces the shard's whole FSM state with the snapshot stream in
// r, in bounded memory. It first reads and verifies the entire stream (frame
// checksums, total checksum, pair count, key order and shape, Meta, no
// trailing bytes) while spooling it to a file beside the database; a bad
// stream leaves the old state untouched and the error wraps ErrCorrupt. Only
// then does it replace the state, in batches behind a range delete, with
// Meta in the last, synced batch. An I/O error or crash part-way leaves the
// shard without Meta (applied index 0), so its owner restores it again.
// Not safe to run concurrently with batches on this shard.
func (s *Shard) Restore(r io.Reader) error { return s.RestoreNewer(r, 0) }

// RestoreNewer is Restore, except that a snapshot whose applied index is
// below applied is verified and then refused with ErrStaleSnapshot, the
// state untouched. A Raft follower can be sent a leader's snapshot older than
// what it has applied (the leader's view of its progress lagged): installing
// it would move the state back past log entries already compacted away.
func (s *Shard) RestoreNewer(r io.Reader, applied uint64) error {
	if err := s.db.enter(); err != nil {
		return err
	}
	defer s.db.leave()
	name := s.db.fs.PathJoin(s.db.dir, fmt.Sprintf("restore-%d.tmp", s.id))
	meta, err := s.spool(r, name)
	if err != nil {
		return fmt.Errorf("storage: restore shard %d: %w", s.id, err)
	}
	defer func() { _ = s.db.fs.Remove(name) }()
	if meta.AppliedIndex < applied {
		return fmt.Errorf("storage: restore shard %d: %w: snapshot applied index %d, state %d", s.id, ErrStaleSnapshot, meta.AppliedIndex, applied)
	}
	defer s.resumeFilters(s.suspendFilters()) // the keys change outside a Batch
	if err := s.replace(name); err != nil {
		return fmt.Errorf("storage: restore shard %d: %w", s.id, err)
	}
	return nil
}

// restoreBatchBytes bounds one batch of a restore: memory stays bounded
// whatever the size of the shard.
const restoreBatchBytes = 8 << 20

// spool verifies the whole stream while copying it to the file name (the
// shard is not touched until the stream is known good); it returns the
// stream's Meta.
func (s *Shard) spool(r io.Reader, name string) (Meta, error) {
	var meta Meta
	f, err := s.db.fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return meta, err
	}
	// vfs.File.Write may modify its argument: bufio hands it bufio's own
	// buffer, never the bytes readSnapshot is verifying.
	w := bufio.NewWriterSize(f, 1<<20)
	err = readSnapshot(io.TeeReader(r, w), func(k, v []byte) error {
		if len(k) > 0 && k[0] == kindMeta {
			return decodeMeta(v, &meta)
		}
		return nil
	})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = s.db.fs.Remove(name)
	}
	return meta, err
}

// replace swaps the shard's state for the verified stream in file name, in
// batches of restoreBatchBytes behind a range delete of the old state. Meta
// is written last, in the final synced batch: a crash part-way leaves a
// shard without Meta (applied index 0), which its owner restores again.
func (s *Shard) replace(name string) error {
	f, err := s.db.fs.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	pb := s.db.pdb.NewBatch()
	defer func() { _ = pb.Close() }()
	lower, upper := fsmBounds(s.id)
	if err := pb.DeleteRange(lower, upper, nil); err != nil {
		return err
	}
	var key, metaKey, metaVal []byte
	err = readSnapshot(f, func(k, v []byte) error {
		key = append(append(key[:0], lower...), k...)
		if k[0] == kindMeta {
			metaKey, metaVal = slices.Clone(key), slices.Clone(v)
			return nil
		}
		if err := pb.Set(key, v, nil); err != nil {
			return err
		}
		if pb.Len() < restoreBatchBytes {
			return nil
		}
		if err := pb.Commit(pebble.NoSync); err != nil {
			return err
		}
		_ = pb.Close()
		pb = s.db.pdb.NewBatch()
		return nil
	})
	if err != nil {
		return err
	}
	if metaKey != nil {
		if err := pb.Set(metaKey, metaVal, nil); err != nil {
			return err
		}
	}
	return pb.Commit(pebble.Sync)
}

// readSnapshot verifies a stream, calling fn for every pair in order. fn's
// slices are only valid during the call. Only when it returns nil has the
// whole stream been verified.
func readSnapshot(r io.Reader, fn func(k, v []byte) error) error {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: snapshot: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	br := bufio.NewReaderSize(r, 64<<10)
	total := crc32.New(castagnoli)
	readFull := func(p []byte) error {
		if _, err := io.ReadFull(br, p); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return corrupt("truncated")
			}
			return err
		}
		return nil
	}

	hdr := make([]byte, len(snapMagic)+1)
	if err := readFull(hdr); err != nil {
		return err
	}
	if string(hdr[:len(snapMagic)]) != snapMagic {
		return corrupt("bad magic")
	}
	if hdr[len(snapMagic)] != snapVersion {
		return corrupt("unsupported version %d", hdr[len(snapMagic)])
	}
	total.Write(hdr)

	var (
		prev    []byte
		havePrv bool
		pairs   uint64
		fh      [frameHdr]byte
		trail   [frameTrail]byte
		payload []byte
	)
	for {
		sumBefore := total.Sum32()
		if err := readFull(fh[:]); err != nil {
			return err
		}
		kind, n := fh[0], binary.BigEndian.Uint32(fh[1:])
		if kind != frameData && kind != frameEnd {
			return corrupt("unknown frame kind %d", kind)
		}
		if n > maxFrame || (kind == frameEnd && n != endPayload) || (kind == frameData && n == 0) {
			return corrupt("bad frame length %d", n)
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if err := readFull(payload); err != nil {
			return err
		}
		if err := readFull(trail[:]); err != nil {
			return err
		}
		c := crc32.Update(crc32.Update(0, castagnoli, fh[:]), castagnoli, payload)
		if c != binary.BigEndian.Uint32(trail[:]) {
			return corrupt("frame checksum mismatch")
		}
		total.Write(fh[:])
		total.Write(payload)
		total.Write(trail[:])

		if kind == frameEnd {
			if got := binary.BigEndian.Uint64(payload); got != pairs {
				return corrupt("pair count %d, stream has %d", got, pairs)
			}
			if got := binary.BigEndian.Uint32(payload[8:]); got != sumBefore {
				return corrupt("total checksum mismatch")
			}
			if _, err := br.ReadByte(); err != io.EOF {
				if err != nil {
					return err
				}
				return corrupt("trailing data")
			}
			return nil
		}

		for p := payload; len(p) > 0; {
			k, rest, ok := readChunk(p)
			if !ok {
				return corrupt("bad key")
			}
			v, rest, ok := readChunk(rest)
			if !ok {
				return corrupt("bad value")
			}
			p = rest
			if !validFSMSuffix(k) {
				return corrupt("bad key %x", k)
			}
			if havePrv && bytes.Compare(prev, k) >= 0 {
				return corrupt("keys out of order")
			}
			if k[0] == kindMeta {
				var m Meta
				if err := decodeMeta(v, &m); err != nil {
					return err
				}
			}
			prev, havePrv = append(prev[:0], k...), true
			pairs++
			if err := fn(k, v); err != nil {
				return err
			}
		}
	}
}

// readChunk reads uvarint len | bytes.
func readChunk(p []byte) (chunk, rest []byte, ok bool) {
	n, w := binary.Uvarint(p)
	if w <= 0 || n > uint64(len(p)-w) {
		return nil, nil, false
	}
	return p[w : w+int(n)], p[w+int(n):], true
}
