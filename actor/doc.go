// Package actor is a small, domain-free virtual-actor runtime: actors addressed
// by a string key, activated on demand from storage, one message at a time,
// durable reminders, passivated when idle so that memory is bounded by a
// configurable resident set rather than by the number of keys. It starts no
// goroutine per actor and imports nothing of NATS, Raft or Pebble.
//
// # Flow
//
// A Host[S] holds the resident actors of one state type S. It is built with
// NewHost from a Config, a Loader (how an actor's state is read from durable
// storage), and two functions: newState allocates a state, reset clears one for
// reuse. One goroutine, the owner, drives it; in Strata that is a shard's Raft
// FSM apply goroutine.
//
//  1. The owner calls Dispatch with a batch of messages, a key function and a
//     handler. Each message's key is looked up in the resident set. A key that
//     is not resident is activated: an entry is taken (reusing the least
//     recently used actor's entry and state when the set is full, else a fresh
//     one), reset, and filled by Loader.Load. Each key is activated at most once
//     per call.
//  2. The handler runs for each message of a key, in input order, one at a
//     time. With Config.Workers 1 everything runs on the caller's goroutine in
//     input order; with more, the batch is first grouped by key and distinct
//     keys run in parallel on up to Workers goroutines (started for the call and
//     finished before it returns). Either way, the result is the same: a key's
//     handler sees its messages in order, keys are independent, and errors are
//     reported identically, so the outcome never depends on scheduling.
//  3. On an error (from Load or the handler) the key's remaining messages are
//     skipped and the key is passivated: its possibly half-updated state is
//     dropped, and the next message reloads it from storage. Other keys carry on.
//     Dispatch returns the error raised at the lowest message index.
//  4. When the call returns, the least recently used actors beyond
//     Config.Capacity are passivated. Actors touched by a call are never
//     passivated during it, so a handler may make its state durable (e.g. in the
//     storage batch the caller commits) by the end of the call rather than per
//     message. Hold and Release extend that guarantee over several calls.
//
// Do runs one function on one key's state, with the same rules. Reminders are
// durable per-key wake-up times kept by the application in a ReminderStore;
// FireDue walks the reminders due up to a time, in the store's order, and runs a
// handler on each key's state — the handler re-arms or clears the reminder.
// Time is always an argument: nothing here reads a clock.
//
// # Concurrency
//
// Dispatch, Do, FireDue, Passivate, Clear, Hold and Release are for the owner
// goroutine only. Peek, Len and Stats are safe from any goroutine: Peek reads a
// resident actor's state under the actor's read lock (e.g. for HTTP reads)
// while the owner keeps working; the owner takes the resident set's lock only to
// add or remove actors, never for a message to a resident actor. See Host.
//
// # Costs
//
// Steady state allocates nothing per message or per activation: entries, states
// and key storage of passivated actors are reused, and Dispatch's scratch space
// lives in the Host. The LRU is an intrusive doubly linked list (O(1) per touch
// and per eviction). DESIGN.md records why the package is shaped this way.
package actor
