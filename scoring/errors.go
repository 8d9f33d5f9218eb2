package scoring

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrCorruptState is wrapped by every State.UnmarshalBinary failure.
	ErrCorruptState = errors.New("scoring: corrupt state")
	// ErrInvalidParams is wrapped by every NewModel / Params.Validate failure.
	ErrInvalidParams = errors.New("scoring: invalid params")
	// ErrInvalidLimits is wrapped by every Limits.Validate failure.
	ErrInvalidLimits = errors.New("scoring: invalid limits")
)

// Reason codes of rejected events. They are an external contract: the node
// publishes a rejected event on strata.dlq.<reason> with the code in the
// Strata-Error header. Never rename one; add new codes instead.
const (
	ReasonEmpty          = "empty"           // zero-length payload
	ReasonTooLarge       = "too_large"       // payload longer than Limits.MaxPayload
	ReasonInvalidUTF8    = "invalid_utf8"    // payload is not valid UTF-8
	ReasonNotJSON        = "not_json"        // not JSON, or a JSON syntax error
	ReasonNotObject      = "not_object"      // valid JSON whose top level is not an object
	ReasonTrailingData   = "trailing_data"   // anything but white space after the object
	ReasonDuplicateField = "duplicate_field" // a top-level field appears twice
	ReasonUnknownField   = "unknown_field"   // a top-level field outside id,user,type,ts,amount,props
	ReasonBadSubject     = "bad_subject"     // the subject carries no user token
	ReasonMissingID      = "missing_id"      // no "id"
	ReasonMissingUser    = "missing_user"    // no "user"
	ReasonMissingType    = "missing_type"    // no "type"
	ReasonMissingTS      = "missing_ts"      // no "ts"
	ReasonMissingAmount  = "missing_amount"  // purchase or refund without "amount"
	ReasonBadID          = "bad_id"          // "id" is not a JSON string
	ReasonBadUser        = "bad_user"        // "user" is not a JSON string
	ReasonBadType        = "bad_type"        // "type" is not a JSON string
	ReasonBadTS          = "bad_ts"          // "ts" is not RFC 3339 nor a non-negative integer of milliseconds
	ReasonBadAmount      = "bad_amount"      // "amount" is not a JSON number
	ReasonBadProps       = "bad_props"       // "props" is not an object, or nests deeper than 8 levels
	ReasonInvalidID      = "invalid_id"      // "id" is empty, longer than 128 bytes or holds control characters
	ReasonInvalidUser    = "invalid_user"    // "user" is empty, longer than 128 bytes or holds control characters
	ReasonInvalidType    = "invalid_type"    // "type" is empty, longer than 64 bytes or not [a-z0-9_-]
	ReasonUserMismatch   = "user_mismatch"   // "user" differs from the subject's last token
	ReasonFutureTS       = "future_ts"       // ts later than now + Limits.MaxFuture
	ReasonStaleTS        = "stale_ts"        // ts earlier than now − Limits.MaxAge
	ReasonNegativeAmount = "negative_amount" // amount < 0
	ReasonAbsurdAmount   = "absurd_amount"   // amount > Limits.MaxAmount, or overflows a float64
)

// Reasons lists every reason code Decode can return, in a fixed order (for
// metrics pre-registration and documentation).
func Reasons() []string {
	return []string{
		ReasonEmpty, ReasonTooLarge, ReasonInvalidUTF8, ReasonNotJSON, ReasonNotObject,
		ReasonTrailingData, ReasonDuplicateField, ReasonUnknownField, ReasonBadSubject,
		ReasonMissingID, ReasonMissingUser, ReasonMissingType, ReasonMissingTS, ReasonMissingAmount,
		ReasonBadID, ReasonBadUser, ReasonBadType, ReasonBadTS, ReasonBadAmount, ReasonBadProps,
		ReasonInvalidID, ReasonInvalidUser, ReasonInvalidType, ReasonUserMismatch,
		ReasonFutureTS, ReasonStaleTS, ReasonNegativeAmount, ReasonAbsurdAmount,
	}
}

// InvalidEventError says why an event was rejected. Reason is one of the
// Reason* constants (stable); Detail is human text quoting the offending value
// (truncated) and may change between versions.
type InvalidEventError struct{ Reason, Detail string }

func (e *InvalidEventError) Error() string {
	return "scoring: invalid event: " + e.Reason + ": " + e.Detail
}

// maxQuoted bounds how much of an offending value a Detail quotes.
const maxQuoted = 64

// quote renders b for a Detail: Go-quoted, truncated to maxQuoted bytes on a
// rune boundary, with "…" appended when truncated.
func quote(b []byte) string {
	if len(b) <= maxQuoted {
		return strconv.Quote(string(b))
	}
	n := maxQuoted
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return strconv.Quote(string(b[:n])) + "…"
}

func invalid(reason, detail string) error {
	return &InvalidEventError{Reason: reason, Detail: detail}
}
