package cluster

import (
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/strata-io/strata/scoring"
)

// appendTransitionJSON appends msg as JSON, byte for byte what
// json.Marshal(&msg) produces (a property test holds it to that), without
// reflection or allocation: it runs once per transition on every replica and
// encoding/json was 8% of an FSM apply in profiles.
func appendTransitionJSON(b []byte, msg *TransitionMessage) ([]byte, error) {
	b = append(b, `{"user":`...)
	b = appendJSONString(b, msg.User)
	b = append(b, `,"dimension":`...)
	b = appendJSONString(b, msg.Dimension)
	b = append(b, `,"from":`...)
	b = appendJSONString(b, msg.From)
	b = append(b, `,"to":`...)
	b = appendJSONString(b, msg.To)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, msg.Seq, 10)
	b = append(b, `,"at":`...)
	var err error
	if b, err = appendJSONTime(b, msg.At); err != nil {
		return b, err
	}
	b = append(b, `,"model":`...)
	b = appendJSONString(b, msg.Model)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, msg.Reason)
	b = append(b, `,"cause":`...)
	b = appendJSONString(b, msg.Cause)
	b = append(b, `,"scores":`...)
	if b, err = appendScoresJSON(b, &msg.Scores); err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

func appendScoresJSON(b []byte, s *scoring.Scores) ([]byte, error) {
	var err error
	b = append(b, `{"activity":`...)
	if b, err = appendJSONFloat(b, s.Activity); err != nil {
		return b, err
	}
	b = append(b, `,"active_days_7":`...)
	b = strconv.AppendInt(b, int64(s.ActiveDays7), 10)
	b = append(b, `,"active_days_30":`...)
	b = strconv.AppendInt(b, int64(s.ActiveDays30), 10)
	b = append(b, `,"monetary_365d":`...)
	if b, err = appendJSONFloat(b, s.Monetary365d); err != nil {
		return b, err
	}
	b = append(b, `,"purchases_90d":`...)
	b = strconv.AppendInt(b, int64(s.Purchases90d), 10)
	b = append(b, `,"recency_days":`...)
	if b, err = appendJSONFloat(b, s.RecencyDays); err != nil {
		return b, err
	}
	b = append(b, `,"churn_risk":`...)
	if b, err = appendJSONFloat(b, s.ChurnRisk); err != nil {
		return b, err
	}
	b = append(b, `,"fraud_risk":`...)
	if b, err = appendJSONFloat(b, s.FraudRisk); err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

// appendJSONFloat formats f as encoding/json does: the shortest decimal that
// round-trips, in exponent form below 1e-6 and from 1e21 on, with a
// one-digit negative exponent written without its leading zero.
func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, fmt.Errorf("cluster: encode transition: unsupported value %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

// appendJSONTime writes t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, quoted); years outside 0..9999 are an error there too.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y >= 10000 {
		return b, fmt.Errorf("cluster: encode transition: year %d outside [0,9999]", y)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does with its default HTML
// escaping: ", \ and control characters escaped (\n, \r, \t, \b, \f by
// name), <, > and & as \u003c, \u003e, \u0026, U+2028 and U+2029 escaped,
// and each invalid UTF-8 byte replaced by \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
