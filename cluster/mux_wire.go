package cluster

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The mux's wire format. Every connection opens with a hello from the dialer:
//
//	"STRM" | version u8 | kind u8 | group u16 | len u8 | claimed node ID
//
// and the acceptor's reply: status u8 | len u8 | its node ID. A Raft
// connection then carries hashicorp/raft's NetworkTransport protocol; an RPC
// connection carries requests (len u32 | body) each answered by a response
// (status u8 | len u32 | body), one at a time. Integers are big-endian.
const (
	muxMagic          = "STRM"
	muxVersion   byte = 1
	muxKindRaft  byte = 1
	muxKindRPC   byte = 2
	maxNodeIDLen      = 255

	muxStatusOK           byte = 0
	muxStatusUnknownGroup byte = 1
	muxStatusRefused      byte = 2
	muxStatusBadVersion   byte = 3
)

// muxHello is the dialer's preamble.
type muxHello struct {
	kind  byte
	group uint16
	node  string
}

var errMuxVersion = fmt.Errorf("%w: unsupported version", ErrBadHandshake)

func appendMuxHello(b []byte, h muxHello) []byte {
	b = append(b, muxMagic...)
	b = append(b, muxVersion, h.kind)
	b = binary.BigEndian.AppendUint16(b, h.group)
	b = append(b, byte(len(h.node)))
	return append(b, h.node...)
}

// readMuxHello reads and checks a hello; it never reads past it.
func readMuxHello(r io.Reader) (muxHello, error) {
	var b [9]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return muxHello{}, err
	}
	switch {
	case string(b[:4]) != muxMagic:
		return muxHello{}, fmt.Errorf("%w: bad magic %q", ErrBadHandshake, b[:4])
	case b[4] != muxVersion:
		return muxHello{}, errMuxVersion
	case b[5] != muxKindRaft && b[5] != muxKindRPC:
		return muxHello{}, fmt.Errorf("%w: bad kind %d", ErrBadHandshake, b[5])
	case b[8] == 0:
		return muxHello{}, fmt.Errorf("%w: empty node ID", ErrBadHandshake)
	}
	h := muxHello{kind: b[5], group: binary.BigEndian.Uint16(b[6:8])}
	id := make([]byte, b[8])
	if _, err := io.ReadFull(r, id); err != nil {
		return muxHello{}, err
	}
	h.node = string(id)
	return h, nil
}

func appendMuxReply(b []byte, status byte, node string) []byte {
	b = append(b, status, byte(len(node)))
	return append(b, node...)
}

func readMuxReply(r io.Reader) (byte, string, error) {
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, "", err
	}
	id := make([]byte, b[1])
	if _, err := io.ReadFull(r, id); err != nil {
		return 0, "", err
	}
	return b[0], string(id), nil
}

func handshakeError(status byte) error {
	switch status {
	case muxStatusOK:
		return nil
	case muxStatusUnknownGroup:
		return ErrUnknownGroup
	case muxStatusRefused:
		return ErrRefused
	case muxStatusBadVersion:
		return fmt.Errorf("%w: unsupported mux version %d", ErrRefused, muxVersion)
	}
	return fmt.Errorf("%w: reply status %d", ErrBadHandshake, status)
}
