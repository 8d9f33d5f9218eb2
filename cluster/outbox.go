package cluster

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/strata-io/strata/scoring"
)

// An outbox record is one transition waiting to be published:
//
//	varint origin · str dimension · str user · uvarint seq · JSON message
//
// origin is when JetStream stored the causing event (Unix ms; 0 for timers),
// used only for the event-to-transition latency metric.
type outboxRecord struct {
	Origin    int64
	Dimension string
	User      string
	Seq       uint64
	JSON      []byte
}

// TransitionMessage is the JSON published on strata.transitions.<dimension>.<user>.
// Field names are the external contract.
type TransitionMessage struct {
	User      string         `json:"user"`
	Dimension string         `json:"dimension"`
	From      string         `json:"from"`
	To        string         `json:"to"`
	Seq       uint64         `json:"seq"`
	At        time.Time      `json:"at"`
	Model     string         `json:"model"`
	Reason    string         `json:"reason"`
	Cause     string         `json:"cause"`
	Scores    scoring.Scores `json:"scores"`
}

// Subject returns where a transition is published.
func transitionSubject(dimension, user string) string {
	return "strata.transitions." + dimension + "." + user
}

// msgID is the Nats-Msg-Id of a transition: the same on every replica and retry.
func msgID(user, dimension string, seq uint64) string {
	return fmt.Sprintf("%s:%s:%d", user, dimension, seq)
}

func appendOutboxRecord(b []byte, origin int64, user, model string, t *scoring.Transition) ([]byte, error) {
	msg := TransitionMessage{
		User: user, Dimension: t.Dimension, From: t.From, To: t.To, Seq: t.Seq,
		At: time.UnixMilli(t.At).UTC(), Model: model, Reason: t.Reason, Cause: t.Cause, Scores: t.Scores,
	}
	b = binary.AppendVarint(b, origin)
	b = appendString(b, t.Dimension)
	b = appendString(b, user)
	b = binary.AppendUvarint(b, t.Seq)
	return appendTransitionJSON(b, &msg)
}

func decodeOutboxRecord(b []byte) (outboxRecord, error) {
	d := decoder{b: b}
	var r outboxRecord
	r.Origin = d.varint("origin")
	r.Dimension = string(d.bytes("dimension"))
	r.User = string(d.bytes("user"))
	r.Seq = d.uvarint("seq")
	if d.err != nil {
		return r, fmt.Errorf("cluster: outbox record: %w", d.err)
	}
	r.JSON = d.b
	return r, nil
}
