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
