package cluster

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/strata-io/strata/scoring"
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

// appendHistoryEntry appends the stored form of a history entry (JSON).
func appendHistoryEntry(b []byte, model string, t *scoring.Transition) []byte {
	e := HistoryEntry{Dimension: t.Dimension, From: t.From, To: t.To, Seq: t.Seq,
		At: time.UnixMilli(t.At).UTC(), Model: model, Reason: t.Reason, Cause: t.Cause}
	js, err := json.Marshal(&e)
	if err != nil { // a struct of strings, numbers and a time: cannot fail
		panic(err)
	}
	return append(b, js...)
}

// History returns the user's recorded transitions, oldest first (at most
// Config.History of them), from this replica.
func (f *FSM) History(user string) ([]HistoryEntry, error) {
	var out []HistoryEntry
	err := f.store.History(user, func(_ uint64, b []byte) error {
		var e HistoryEntry
		if err := json.Unmarshal(b, &e); err != nil {
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
