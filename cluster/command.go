package cluster

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/strata-io/strata/scoring"
)

// Raft log entries of a shard. Every entry carries the leader's clock reading
// (now, Unix ms): Apply never reads a clock of its own.
//
// Encoding (version 1), all integers varint/uvarint:
//
//	byte 1 (version) · byte kind · varint now · kind-specific body
//	ingest: uvarint prevSeq · uvarint lastSeq · uvarint n · n × event
//	event:  uvarint seq · varint stored(ms) · str id · str user · str type · varint ts · varint amount · str props
//	tick:   uvarint limit
//	trim:   uvarint upTo
//	model:  str plan (JSON ModelPlan)
//	sweep:  uvarint limit
//
// str is uvarint length + bytes.

const commandVersion = 1

type commandKind byte

const (
	kindIngest commandKind = 1 // a batch of validated events from the partition
	kindTick   commandKind = 2 // fire every timer due ≤ now
	kindTrim   commandKind = 3 // forget outbox records ≤ upTo (published)
	kindModel  commandKind = 4 // follow the cluster's model plan
	kindSweep  commandKind = 5 // move the next users to the shard's models
	kindRFM    commandKind = 6 // new population RFM edges
)

func (k commandKind) String() string {
	switch k {
	case kindIngest:
		return "ingest"
	case kindTick:
		return "tick"
	case kindTrim:
		return "trim"
	case kindModel:
		return "model"
	case kindSweep:
		return "sweep"
	case kindRFM:
		return "rfm"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// ingested is one event as the leader proposes it.
type ingested struct {
	Seq    uint64 // STRATA_EVENTS stream sequence
	Stored int64  // when JetStream stored it (Unix ms); for latency metrics only
	Event  scoring.Event
}

// command is a decoded Raft entry.
type command struct {
	Kind    commandKind
	Now     int64
	PrevSeq uint64 // ingest: the cursor the leader read this batch after
	LastSeq uint64 // ingest: the cursor after this entry (covers dead-lettered messages too)
	Events  []ingested
	UpTo    uint64     // trim
	Limit   uint64     // tick: most timers fired and dedupe entries expired (0: no limit); sweep: most users
	Plan    *ModelPlan // model
	RFM     *RFMState  // rfm
}

const (
	maxEventsPerCommand = 1 << 16
	maxStringLen        = 1 << 20
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendIngest encodes an ingest command covering stream sequences
// (prevSeq, lastSeq].
func appendIngest(b []byte, now int64, prevSeq, lastSeq uint64, events []ingested) []byte {
	b = append(b, commandVersion, byte(kindIngest))
	b = binary.AppendVarint(b, now)
	b = binary.AppendUvarint(b, prevSeq)
	b = binary.AppendUvarint(b, lastSeq)
	b = binary.AppendUvarint(b, uint64(len(events)))
	for i := range events {
		e := &events[i]
		b = binary.AppendUvarint(b, e.Seq)
		b = binary.AppendVarint(b, e.Stored)
		b = appendString(b, e.Event.ID)
		b = appendString(b, e.Event.User)
		b = appendString(b, e.Event.Type)
		b = binary.AppendVarint(b, e.Event.TS)
		b = binary.AppendVarint(b, e.Event.Amount)
		b = binary.AppendUvarint(b, uint64(len(e.Event.Props)))
		b = append(b, e.Event.Props...)
	}
	return b
}

// appendTick encodes a tick. The limit travels in the entry so that every
// replica stops at the same timer whatever its own configuration.
func appendTick(b []byte, now int64, limit uint64) []byte {
	b = append(b, commandVersion, byte(kindTick))
	b = binary.AppendVarint(b, now)
	return binary.AppendUvarint(b, limit)
}

func appendTrim(b []byte, now int64, upTo uint64) []byte {
	b = append(b, commandVersion, byte(kindTrim))
	b = binary.AppendVarint(b, now)
	return binary.AppendUvarint(b, upTo)
}

// appendModel encodes a model entry carrying the cluster's plan.
func appendModel(b []byte, now int64, plan *ModelPlan) ([]byte, error) {
	js, err := json.Marshal(plan)
	if err != nil {
		return nil, err
	}
	b = append(b, commandVersion, byte(kindModel))
	b = binary.AppendVarint(b, now)
	return appendString(b, string(js)), nil
}

// appendRFM encodes an entry carrying the cluster's RFM edges.
func appendRFM(b []byte, now int64, st *RFMState) ([]byte, error) {
	js, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	b = append(b, commandVersion, byte(kindRFM))
	b = binary.AppendVarint(b, now)
	return appendString(b, string(js)), nil
}

// appendSweep encodes a sweep step of at most limit users.
func appendSweep(b []byte, now int64, limit uint64) []byte {
	b = append(b, commandVersion, byte(kindSweep))
	b = binary.AppendVarint(b, now)
	return binary.AppendUvarint(b, limit)
}

// decoder reads one entry; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", ErrBadCommand, what, len(d.b))
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > maxStringLen || n > uint64(len(d.b)) {
		d.fail(what + " length")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// decodeCommand parses an entry. Strings are copied; the input may be reused.
func decodeCommand(data []byte) (command, error) {
	var c command
	if len(data) < 2 {
		return c, fmt.Errorf("%w: %d bytes", ErrBadCommand, len(data))
	}
	if data[0] != commandVersion {
		return c, fmt.Errorf("%w: version %d", ErrBadCommand, data[0])
	}
	c.Kind = commandKind(data[1])
	d := decoder{b: data[2:]}
	c.Now = d.varint("now")
	switch c.Kind {
	case kindIngest:
		c.PrevSeq = d.uvarint("prev seq")
		c.LastSeq = d.uvarint("last seq")
		n := d.uvarint("count")
		if n > maxEventsPerCommand {
			d.fail("count")
		}
		if d.err == nil {
			// Each event takes ≥ 8 bytes: never trust the count for more.
			c.Events = make([]ingested, 0, min(n, uint64(len(d.b)/8)))
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			var e ingested
			e.Seq = d.uvarint("seq")
			e.Stored = d.varint("stored")
			e.Event.ID = string(d.bytes("id"))
			e.Event.User = string(d.bytes("user"))
			e.Event.Type = string(d.bytes("type"))
			e.Event.TS = d.varint("ts")
			e.Event.Amount = d.varint("amount")
			if p := d.bytes("props"); len(p) > 0 {
				e.Event.Props = append([]byte(nil), p...)
			}
			c.Events = append(c.Events, e)
		}
	case kindTick:
		c.Limit = d.uvarint("limit")
	case kindTrim:
		c.UpTo = d.uvarint("up to")
	case kindModel:
		js := d.bytes("plan")
		if d.err == nil {
			var p ModelPlan
			if err := json.Unmarshal(js, &p); err != nil {
				return command{}, fmt.Errorf("%w: model plan: %v", ErrBadCommand, err)
			}
			c.Plan = &p
		}
	case kindSweep:
		c.Limit = d.uvarint("limit")
	case kindRFM:
		js := d.bytes("rfm")
		if d.err == nil {
			var st RFMState
			if err := json.Unmarshal(js, &st); err != nil {
				return command{}, fmt.Errorf("%w: rfm: %v", ErrBadCommand, err)
			}
			c.RFM = &st
		}
	default:
		return c, fmt.Errorf("%w: unknown kind %d", ErrBadCommand, data[1])
	}
	if d.err != nil {
		return command{}, d.err
	}
	if len(d.b) != 0 {
		return command{}, fmt.Errorf("%w: %d trailing bytes", ErrBadCommand, len(d.b))
	}
	if c.Now < 0 || c.Now > scoring.MaxTime {
		return command{}, fmt.Errorf("%w: now %d", ErrBadCommand, c.Now)
	}
	return c, nil
}
