package actor

import "fmt"

// ReminderStore persists durable per-key wake-up times (reminders). The runtime
// stores nothing itself: the application arms and clears reminders in its own
// storage, typically in the same write batch as the actor's state.
type ReminderStore interface {
	// Due calls fn for every reminder with due ≤ upTo, ascending by (due, key).
	// It is called on the owner goroutine. fn's handler may arm or clear reminders
	// (including the one being fired) while Due iterates, so Due must iterate a
	// stable view (e.g. a storage snapshot) or otherwise tolerate that. If fn
	// returns an error, Due stops and returns it (it may wrap it with %w).
	Due(upTo int64, fn func(key string, due int64) error) error
}

// FireDue calls handle(key, state, due) for every reminder due ≤ upTo, in the store's order, activating as needed.
// The handler is responsible for re-arming/clearing the reminder in the store (the runtime is domain-free).
//
// Owner goroutine only. It stops at the first error: a Loader error or a handle
// error passivates that key, no later reminder fires, and the error comes back
// wrapped ("actor: fire reminders ...", %w, so errors.Is/As still match). Like Dispatch, actors touched by the
// call are not passivated by the LRU until it returns. handle must not call the Host.
func FireDue[S any](h *Host[S], store ReminderStore, upTo int64, handle func(key string, s *S, due int64) error) error {
	h.begin()
	err := store.Due(upTo, func(key string, due int64) error {
		e, _ := h.touch(key)
		if err := h.runFn(e, key, func(s *S) error { return handle(key, s, due) }); err != nil {
			h.drop(e)
			return err
		}
		return nil
	})
	h.end()
	if err != nil {
		return fmt.Errorf("actor: fire reminders due ≤ %d: %w", upTo, err)
	}
	return nil
}
