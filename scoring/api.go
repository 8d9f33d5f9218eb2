package scoring

// This file is the contract between scoring and the rest of Strata. The
// implementation lives in the other files of the package.

import "time"

// Day is one UTC day in milliseconds. All scoring time is Unix milliseconds (UTC).
const Day int64 = 86_400_000

// MaxTime bounds every instant scoring stores or accepts (2^53 ms, about
// year 287 000): sums of an instant and any window then never overflow, and a
// decoded state with times outside [0, MaxTime] is rejected as corrupt.
const MaxTime int64 = 1 << 53

// Event is one validated user event, as carried in the Raft log.
type Event struct {
	ID     string // 1–128 bytes, unique per user
	User   string // 1–128 bytes, equals the subject's last token
	Type   string // built-in or custom type name
	TS     int64  // event time, Unix milliseconds
	Amount int64  // purchase/refund amount in milli-units (amount × 1000); 0 otherwise
	Props  []byte // raw JSON object as received, nil when absent
}

// Limits bound what Decode accepts.
type Limits struct {
	MaxPayload int           // bytes; default 65536
	MaxFuture  time.Duration // how far ts may lie ahead of now; default 5m
	MaxAge     time.Duration // how far ts may lie behind now; default 400 days
	MaxAmount  float64       // largest amount accepted; default 1e12
}

// Dimension is one tiering dimension and its tiers in order.
type Dimension struct {
	Name  string
	Tiers []string
}

// Scores are the derived scores of a user at one instant (JSON names are the
// external contract).
type Scores struct {
	Activity     float64 `json:"activity"`
	ActiveDays7  int     `json:"active_days_7"`
	ActiveDays30 int     `json:"active_days_30"`
	Monetary365d float64 `json:"monetary_365d"`
	Purchases90d int     `json:"purchases_90d"`
	RecencyDays  float64 `json:"recency_days"` // -1 when the user never purchased
	ChurnRisk    float64 `json:"churn_risk"`
	FraudRisk    float64 `json:"fraud_risk"`
}

// Transition is one change of a user's tier in one dimension.
type Transition struct {
	Dimension string
	From, To  string // From is "" on the first placement
	Seq       uint64 // 1,2,3… per user and dimension
	At        int64  // Unix ms: the apply time for events, the exact deadline for timers
	Reason    string // stable code of the rule that placed the user in To
	Cause     string // event ID, or "timer"
	Scores    Scores // evaluated at At
}
