package cluster

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/strata-io/strata/scoring"
	"github.com/strata-io/strata/storage"
)

// HistoryEntry is one of a user's recent transitions, as GET
// /v1/users/{user}/explain lists them (external contract: JSON names). It
// is the published transition without its scores.
type HistoryEntry struct {
	Dimension string    `json:"dimension"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Seq       uint64    `json:"seq"`
	At        time.Time `json:"at"`
	Model     string    `json:"model"`
	Reason    string    `json:"reason"`
	Cause     string    `json:"cause"`
}

// A stored history entry (version 1):
//
//	byte 1 · str dimension · str from · str to · uvarint seq · varint at(ms) · str model · str reason · str cause
const historyVersion = 1

// appendHistoryEntry appends the stored form of a history entry.
func appendHistoryEntry(b []byte, model string, t *scoring.Transition) []byte {
	b = append(b, historyVersion)
	b = appendString(b, t.Dimension)
	b = appendString(b, t.From)
	b = appendString(b, t.To)
	b = binary.AppendUvarint(b, t.Seq)
	b = binary.AppendVarint(b, t.At)
	b = appendString(b, model)
	b = appendString(b, t.Reason)
	return appendString(b, t.Cause)
}

func decodeHistoryEntry(b []byte) (HistoryEntry, error) {
	if len(b) == 0 || b[0] != historyVersion {
		return HistoryEntry{}, fmt.Errorf("%w: history entry version", storage.ErrCorrupt)
	}
	d := decoder{b: b[1:]}
	e := HistoryEntry{Dimension: string(d.bytes("dimension")), From: string(d.bytes("from")), To: string(d.bytes("to")),
		Seq: d.uvarint("seq")}
	e.At = time.UnixMilli(d.varint("at")).UTC()
	e.Model, e.Reason, e.Cause = string(d.bytes("model")), string(d.bytes("reason")), string(d.bytes("cause"))
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return HistoryEntry{}, fmt.Errorf("%w: history entry: %v", storage.ErrCorrupt, d.err)
	}
	return e, nil
}

// History returns the user's recorded transitions, oldest first (at most
// Config.History of them), from this replica.
func (f *FSM) History(user string) ([]HistoryEntry, error) {
	var out []HistoryEntry
	err := f.store.History(user, int(f.cfg.History), func(_ uint64, b []byte) error {
		e, err := decodeHistoryEntry(b)
		if err != nil {
			return fmt.Errorf("cluster: history of %q: %w", user, err)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// ExplainView is the body of GET /v1/users/{user}/explain (external
// contract: JSON names).
type ExplainView struct {
	User         string                     `json:"user"`
	Model        string                     `json:"model"`
	AsOf         time.Time                  `json:"as_of"`
	Dimensions   []scoring.DimensionExplain `json:"dimensions"`
	Scores       scoring.Scores             `json:"scores"`
	CLV          float64                    `json:"clv"` // scoring.CLV: expected value over a year
	RFM          *scoring.RFM               `json:"rfm,omitempty"`
	Attributes   map[string]string          `json:"attributes,omitempty"`
	Tags         []string                   `json:"tags,omitempty"`
	Counters     map[string]float64         `json:"counters,omitempty"`
	History      []HistoryEntry             `json:"history"` // oldest first
	Shard        uint16                     `json:"shard"`
	AppliedIndex uint64                     `json:"applied_index"`
	Node         string                     `json:"node,omitempty"`
}

// Explain explains a user's tiers from this replica (stale-ok).
func (f *FSM) Explain(user string) (ExplainView, error) {
	meta := f.Meta()
	model, _ := f.activeModel()
	b, found, err := f.store.User(user, nil)
	if err != nil {
		return ExplainView{}, err
	}
	if !found {
		return ExplainView{}, ErrUnknownUser
	}
	var s scoring.State
	gen, err := decodeEnvelope(b, nil, &s)
	if err != nil {
		return ExplainView{}, fmt.Errorf("cluster: user %q: %w", user, err)
	}
	if m := f.modelOf(gen); m != nil {
		model = m
	}
	v := ExplainView{User: user, Model: model.Name(), AsOf: time.UnixMilli(meta.Now).UTC(),
		Dimensions: model.Explain(&s, meta.Now), Scores: model.Scores(&s, meta.Now),
		Attributes: s.Attributes(), Tags: s.Tags(), Counters: s.Counters(),
		Shard: f.cfg.Shard, AppliedIndex: meta.AppliedIndex}
	v.CLV = scoring.CLV(v.Scores)
	if e := f.rfmEdges(); e.Buyers > 0 {
		r := e.Scores(&s)
		v.RFM = &r
	}
	if v.History, err = f.History(user); err != nil {
		return ExplainView{}, err
	}
	if v.History == nil {
		v.History = []HistoryEntry{}
	}
	return v, nil
}
