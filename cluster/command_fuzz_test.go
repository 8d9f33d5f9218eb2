package cluster

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeCommand checks that decodeCommand never panics, that every
// rejection wraps ErrBadCommand, and that what
// decodes re-encodes to an entry that decodes to the same command (the
// encoding is canonical from then on, and never longer than the input:
// decodeCommand accepts non-minimal varints, so the input itself may differ).
// The seed corpus lives in testdata/fuzz/FuzzDecodeCommand.
func FuzzDecodeCommand(f *testing.F) {
	for _, tc := range commandCases() {
		f.Add(encodeCommand(nil, &tc.cmd))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := append([]byte(nil), data...)
		c, err := decodeCommand(data)
		if !bytes.Equal(in, data) {
			t.Fatalf("decodeCommand modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error %v does not wrap ErrBadCommand", err)
			}
			return
		}
		switch c.Kind {
		case kindIngest, kindTick, kindTrim, kindSweep, kindModel, kindRFM:
		default:
			t.Fatalf("decoded unknown kind %d", c.Kind)
		}
		if c.Now < 0 {
			t.Fatalf("decoded negative now %d", c.Now)
		}
		if c.Kind == kindIngest && len(c.Events) > maxEventsPerCommand {
			t.Fatalf("decoded %d events", len(c.Events))
		}
		enc := encodeCommand(nil, &c)
		// A plan or edges travel as JSON, which re-encodes canonically but
		// may grow (defaults spelled out): only the binary kinds shrink.
		if c.Kind != kindModel && c.Kind != kindRFM && len(enc) > len(data) {
			t.Fatalf("re-encoding is longer (%d bytes) than the input (%d)", len(enc), len(data))
		}
		c2, err := decodeCommand(enc)
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalized(c2), normalized(c)) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", c2, c)
		}
		if enc2 := encodeCommand(nil, &c2); !bytes.Equal(enc2, enc) {
			t.Fatalf("encoding is not stable:\n got % x\nwant % x", enc2, enc)
		}
	})
}
