package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/strata-io/strata/scoring"
)

// encodeCommand encodes c with the append function of its kind.
func encodeCommand(b []byte, c *command) []byte {
	switch c.Kind {
	case kindIngest:
		return appendIngest(b, c.Now, c.PrevSeq, c.LastSeq, c.Events)
	case kindTick:
		return appendTick(b, c.Now, c.Limit)
	case kindTrim:
		return appendTrim(b, c.Now, c.UpTo)
	case kindSweep:
		return appendSweep(b, c.Now, c.Limit)
	case kindModel:
		out, err := appendModel(b, c.Now, c.Plan)
		if err != nil {
			panic(err)
		}
		return out
	case kindRFM:
		out, err := appendRFM(b, c.Now, c.RFM)
		if err != nil {
			panic(err)
		}
		return out
	}
	panic("encodeCommand: unknown kind " + c.Kind.String())
}

// normalized returns c with the representations the codec does not
// distinguish made equal: empty event lists and empty props become nil.
func normalized(c command) command {
	if len(c.Events) == 0 {
		c.Events = nil
		return c
	}
	evs := make([]ingested, len(c.Events))
	copy(evs, c.Events)
	for i := range evs {
		if len(evs[i].Event.Props) == 0 {
			evs[i].Event.Props = nil
		}
	}
	c.Events = evs
	return c
}

func sampleEvent(seq uint64, id, user, typ string, ts, amount int64, props string) ingested {
	e := ingested{Seq: seq, Stored: ts + 17, Event: scoring.Event{ID: id, User: user, Type: typ, TS: ts, Amount: amount}}
	if props != "" {
		e.Event.Props = []byte(props)
	}
	return e
}

// commandCases are valid commands of every kind, including edge values.
func commandCases() []struct {
	name string
	cmd  command
} {
	const now = 1_795_000_000_000 // 2026-11-18
	long := strings.Repeat("x", 128)
	return []struct {
		name string
		cmd  command
	}{
		{"ingest/empty", command{Kind: kindIngest, Now: now, LastSeq: 9}},
		{"ingest/prev", command{Kind: kindIngest, Now: now, PrevSeq: 4, LastSeq: 9}},
		{"ingest/zero", command{Kind: kindIngest}},
		{"ingest/one", command{Kind: kindIngest, Now: now, LastSeq: 1, Events: []ingested{
			sampleEvent(1, "e1", "u42", scoring.TypePurchase, now-3_600_000, 60_000_000, ""),
		}}},
		{"ingest/many", command{Kind: kindIngest, Now: now, LastSeq: 120, Events: []ingested{
			sampleEvent(100, "e1", "u1", scoring.TypeSignup, now-scoring.Day, 0, ""),
			sampleEvent(101, "e2", "u2", scoring.TypeRefund, now, 1_500, `{"order":"o-1"}`),
			sampleEvent(105, "e1", "u1", "custom_type", 0, 0, `{}`),
			sampleEvent(119, long, long, long, -1, -7, `{"nested":{"a":[1,2,3]},"s":"ü\u0000"}`),
		}}},
		{"ingest/extremes", command{Kind: kindIngest, Now: scoring.MaxTime, LastSeq: math.MaxUint64, Events: []ingested{
			{Seq: math.MaxUint64, Stored: math.MinInt64, Event: scoring.Event{ID: "a", User: "b", Type: "c",
				TS: math.MaxInt64, Amount: math.MinInt64}},
			{Seq: 0, Stored: math.MaxInt64, Event: scoring.Event{ID: "", User: "", Type: "", TS: math.MinInt64, Amount: math.MaxInt64}},
		}}},
		{"ingest/binary strings", command{Kind: kindIngest, Now: 1, LastSeq: 2, Events: []ingested{
			{Seq: 2, Event: scoring.Event{ID: "\x00\xff", User: "用户\x00", Type: "\x80", Props: []byte{0, 1, 2, 0xff}}},
		}}},
		{"tick/zero", command{Kind: kindTick}},
		{"tick/now", command{Kind: kindTick, Now: now}},
		{"tick/max", command{Kind: kindTick, Now: scoring.MaxTime}},
		{"trim/zero", command{Kind: kindTrim, Now: now}},
		{"trim/some", command{Kind: kindTrim, Now: now, UpTo: 12345}},
		{"trim/max", command{Kind: kindTrim, Now: now, UpTo: math.MaxUint64}},
		{"sweep/zero", command{Kind: kindSweep}},
		{"sweep/some", command{Kind: kindSweep, Now: now, Limit: 1000}},
		{"model/builtin", command{Kind: kindModel, Now: now, Plan: &ModelPlan{Generation: 1}}},
		{"model/shadow", command{Kind: kindModel, Now: now, Plan: &ModelPlan{Generation: 3, ActiveGen: 2, Mode: ModeEmit,
			Active:    &ModelSource{ID: "a@v1", File: "a.hcl", Source: "model \"a\" {}"},
			Candidate: &ModelSource{ID: "a@v2", Source: "…"}, CandidateGen: 3}}},
		{"rfm/edges", command{Kind: kindRFM, Now: now, RFM: &RFMState{Generation: 2, At: now, Edges: scoring.RFMEdges{
			Recency: [4]float64{20000, 20100, 20200, 20300}, Frequency: [4]float64{1, 1, 2, 4},
			Monetary: [4]float64{10.5, 99, 250, 1e6}, Buyers: 12345}}}},
	}
}

func TestCommandRoundTrip(t *testing.T) {
	for _, tc := range commandCases() {
		t.Run(tc.name, func(t *testing.T) {
			data := encodeCommand(nil, &tc.cmd)
			if data[0] != commandVersion || commandKind(data[1]) != tc.cmd.Kind {
				t.Fatalf("header % x, want version %d kind %d", data[:2], commandVersion, tc.cmd.Kind)
			}
			got, err := decodeCommand(data)
			if err != nil {
				t.Fatalf("decodeCommand: %v", err)
			}
			if want := normalized(tc.cmd); !reflect.DeepEqual(normalized(got), want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
			}
			if tc.cmd.Kind == kindIngest && got.Events == nil {
				t.Errorf("decoded ingest has nil Events, want an empty slice")
			}
			if again := encodeCommand(nil, &got); !bytes.Equal(again, data) {
				t.Fatalf("re-encoding differs:\n got % x\nwant % x", again, data)
			}
			// The append functions append: a prefix is kept.
			prefix := []byte("prefix")
			if withPrefix := encodeCommand(append([]byte(nil), prefix...), &tc.cmd); !bytes.Equal(withPrefix, append(prefix, data...)) {
				t.Fatalf("append to a prefix: got % x", withPrefix)
			}
		})
	}
}

// TestDecodeCommandCopies checks that decoded strings and props do not alias
// the entry (Raft reuses its buffers).
func TestDecodeCommandCopies(t *testing.T) {
	c := command{Kind: kindIngest, Now: 5, LastSeq: 3, Events: []ingested{
		sampleEvent(3, "id-1", "user-1", "login", 4, 0, `{"k":"v"}`),
	}}
	data := encodeCommand(nil, &c)
	got, err := decodeCommand(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'Z'
	}
	if want := normalized(c); !reflect.DeepEqual(normalized(got), want) {
		t.Fatalf("decoded command changed with its input:\n got %+v\nwant %+v", got, want)
	}
}

func TestDecodeCommandTruncated(t *testing.T) {
	for _, tc := range commandCases() {
		t.Run(tc.name, func(t *testing.T) {
			data := encodeCommand(nil, &tc.cmd)
			for n := range len(data) {
				if _, err := decodeCommand(data[:n:n]); !errors.Is(err, ErrBadCommand) {
					t.Fatalf("%d of %d bytes: err = %v, want ErrBadCommand", n, len(data), err)
				}
			}
		})
	}
}

// ingestHeader is version, kind, now, lastSeq of an ingest entry.
func ingestHeader(now int64, lastSeq uint64) []byte {
	b := []byte{commandVersion, byte(kindIngest)}
	b = binary.AppendVarint(b, now)
	b = binary.AppendUvarint(b, 0) // prev seq
	return binary.AppendUvarint(b, lastSeq)
}

// eventPrefix is an ingest entry with one event, cut right before its id.
func eventPrefix() []byte {
	b := binary.AppendUvarint(ingestHeader(1, 1), 1)
	b = binary.AppendUvarint(b, 1) // seq
	return binary.AppendVarint(b, 1)
}

func TestDecodeCommandRejects(t *testing.T) {
	valid := appendIngest(nil, 10, 0, 2, []ingested{sampleEvent(2, "e", "u", "view", 3, 0, "")})
	withByte := func(b []byte, i int, v byte) []byte {
		b = append([]byte(nil), b...)
		b[i] = v
		return b
	}
	overlong := bytes.Repeat([]byte{0x80}, binary.MaxVarintLen64)
	overlong = append(overlong, 0x01) // 11 bytes: overflows 64 bits
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"version only", []byte{commandVersion}},
		{"version 0", withByte(valid, 0, 0)},
		{"version 2", withByte(valid, 0, 2)},
		{"version 255", withByte(valid, 0, 255)},
		{"kind 0", withByte(valid, 1, 0)},
		{"kind 4", withByte(valid, 1, 4)},
		{"kind 255", withByte(valid, 1, 255)},
		{"unknown kind without body", []byte{commandVersion, 9}},
		{"ingest trailing byte", append(append([]byte(nil), valid...), 0)},
		{"tick trailing byte", append(appendTick(nil, 1, 0), 0)},
		{"trim trailing bytes", append(appendTrim(nil, 1, 2), 1, 2, 3)},
		{"negative now", appendTick(nil, -1, 0)},
		{"now beyond scoring.MaxTime", appendTick(nil, scoring.MaxTime+1, 0)},
		{"now MinInt64", appendTrim(nil, math.MinInt64, 1)},
		{"overlong now", append([]byte{commandVersion, byte(kindTick)}, overlong...)},
		{"overlong upTo", append([]byte{commandVersion, byte(kindTrim), 2}, overlong...)},
		{"count over limit", binary.AppendUvarint(ingestHeader(1, 1), maxEventsPerCommand+1)},
		{"count 2^63", binary.AppendUvarint(ingestHeader(1, 1), 1<<63)},
		{"count max uint64", binary.AppendUvarint(ingestHeader(1, 1), math.MaxUint64)},
		{"count at limit without events", binary.AppendUvarint(ingestHeader(1, 1), maxEventsPerCommand)},
		{"count larger than events", func() []byte {
			b := appendIngest(nil, 1, 0, 1, []ingested{sampleEvent(1, "e", "u", "t", 1, 0, "")})
			b[len(ingestHeader(1, 1))] = 2 // count 1 → 2
			return b
		}()},
		{"id length over limit", binary.AppendUvarint(eventPrefix(), maxStringLen+1)},
		{"id length 2^63", binary.AppendUvarint(eventPrefix(), 1<<63)},
		{"id length max uint64", binary.AppendUvarint(eventPrefix(), math.MaxUint64)},
		{"id length beyond input", append(binary.AppendUvarint(eventPrefix(), 10), "short"...)},
		{"id length at limit beyond input", append(binary.AppendUvarint(eventPrefix(), maxStringLen), "x"...)},
		{"props length beyond input", func() []byte {
			b := appendIngest(nil, 1, 0, 1, []ingested{sampleEvent(1, "e", "u", "t", 1, 0, "{}")})
			b[len(b)-3] = 3 // props length 2 → 3
			return b
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeCommand(tc.data)
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("err = %v, want ErrBadCommand (got %+v)", err, got)
			}
		})
	}
}

// TestDecodeCommandLimits checks the largest accepted string and count.
func TestDecodeCommandLimits(t *testing.T) {
	big := strings.Repeat("p", maxStringLen)
	c := command{Kind: kindIngest, Now: 1, LastSeq: 1, Events: []ingested{
		{Seq: 1, Event: scoring.Event{ID: big, User: "u", Type: "t", Props: []byte(big)}},
	}}
	got, err := decodeCommand(encodeCommand(nil, &c))
	if err != nil {
		t.Fatalf("string of maxStringLen bytes: %v", err)
	}
	if len(got.Events) != 1 || got.Events[0].Event.ID != big || string(got.Events[0].Event.Props) != big {
		t.Fatalf("string of maxStringLen bytes did not round-trip")
	}

	evs := make([]ingested, maxEventsPerCommand)
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
	}
	got, err = decodeCommand(appendIngest(nil, 1, 0, maxEventsPerCommand, evs))
	if err != nil {
		t.Fatalf("maxEventsPerCommand events: %v", err)
	}
	if len(got.Events) != maxEventsPerCommand || got.Events[maxEventsPerCommand-1].Seq != maxEventsPerCommand {
		t.Fatalf("maxEventsPerCommand events: decoded %d", len(got.Events))
	}
}

func TestCommandKindString(t *testing.T) {
	for k, want := range map[commandKind]string{kindIngest: "ingest", kindTick: "tick", kindTrim: "trim", 0: "kind(0)", 200: "kind(200)"} {
		if got := k.String(); got != want {
			t.Errorf("commandKind(%d).String() = %q, want %q", byte(k), got, want)
		}
	}
}
