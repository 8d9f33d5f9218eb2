package actor_test

import (
	"fmt"

	"github.com/strata-io/strata/actor"
)

// account is an actor's state.
type account struct{ Balance int }

// accounts stands in for durable storage.
type accounts map[string]int

func (a accounts) Load(key string, s *account) (bool, error) {
	b, ok := a[key]
	s.Balance = b
	return ok, nil
}

type deposit struct {
	Account string
	Amount  int
}

func Example() {
	store := accounts{"alice": 100}
	h, err := actor.NewHost[account](actor.DefaultConfig(), store,
		func() *account { return new(account) },
		func(s *account) { *s = account{} })
	if err != nil {
		panic(err)
	}

	// One batch: each account sees its deposits in order, activated once.
	batch := []deposit{{"alice", 5}, {"bob", 7}, {"alice", 10}}
	err = actor.Dispatch(h, batch,
		func(d *deposit) string { return d.Account },
		func(key string, s *account, d *deposit) error {
			s.Balance += d.Amount
			store[key] = s.Balance // write through: the state is durable before passivation
			return nil
		})
	if err != nil {
		panic(err)
	}

	h.Peek("alice", func(s *account) { fmt.Println("alice", s.Balance) })
	h.Peek("bob", func(s *account) { fmt.Println("bob", s.Balance) })
	fmt.Printf("%+v\n", h.Stats())
	// Output:
	// alice 115
	// bob 7
	// {Activations:2 Hits:0 Passivations:0}
}
