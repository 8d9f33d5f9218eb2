package scoring

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Built-in event types. Other types matching [a-z0-9_-]{1,64} are accepted
// and scored with Params.DefaultWeight.
const (
	TypeSignup      = "signup"
	TypeLogin       = "login"
	TypeView        = "view"
	TypeInteraction = "interaction"
	TypeTask        = "task"
	TypePurchase    = "purchase"
	TypeRefund      = "refund"
	TypeCoupon      = "coupon"
	TypeReferral    = "referral"
	TypeSupport     = "support"
	TypeProfile     = "profile"
)

// Field limits of Decode (issue 2 contract).
const (
	MaxIDLen      = 128 // bytes of "id" and of "user"
	MaxTypeLen    = 64  // bytes of "type"
	MaxPropsDepth = 8   // nesting levels of "props", the props object itself being level 1
)

// DefaultLimits returns the limits of the v1 contract: 64 KiB payloads, ts at
// most 5 minutes ahead and 400 days behind now, amounts up to 1e12.
func DefaultLimits() Limits {
	return Limits{
		MaxPayload: 65536,
		MaxFuture:  5 * time.Minute,
		MaxAge:     400 * 24 * time.Hour,
		MaxAmount:  1e12,
	}
}

// Validate reports whether every limit is usable (positive, finite). It never
// modifies l. Decode itself takes l as given: a zero Limits rejects every
// payload as too_large.
func (l Limits) Validate() error {
	var errs []error
	if l.MaxPayload <= 0 {
		errs = append(errs, fmt.Errorf("%w: MaxPayload = %d, want > 0", ErrInvalidLimits, l.MaxPayload))
	}
	if l.MaxFuture < 0 {
		errs = append(errs, fmt.Errorf("%w: MaxFuture = %v, want >= 0", ErrInvalidLimits, l.MaxFuture))
	}
	if l.MaxAge <= 0 {
		errs = append(errs, fmt.Errorf("%w: MaxAge = %v, want > 0", ErrInvalidLimits, l.MaxAge))
	}
	if !(l.MaxAmount > 0) || math.IsInf(l.MaxAmount, 0) {
		errs = append(errs, fmt.Errorf("%w: MaxAmount = %v, want finite > 0", ErrInvalidLimits, l.MaxAmount))
	}
	return errors.Join(errs...)
}

// field bits of the top-level object.
const (
	fieldID uint8 = 1 << iota
	fieldUser
	fieldType
	fieldTS
	fieldAmount
	fieldProps
)

func fieldOf(key []byte) uint8 {
	switch string(key) {
	case "id":
		return fieldID
	case "user":
		return fieldUser
	case "type":
		return fieldType
	case "ts":
		return fieldTS
	case "amount":
		return fieldAmount
	case "props":
		return fieldProps
	}
	return 0
}

// Decode parses and validates one event message published on
// strata.events.<subjectUser>, at time now (Unix ms). It is strict: the first
// problem found is returned as an *InvalidEventError whose Reason is one of the
// Reason* constants, and the Event is then zero. A valid Event's ID is a fresh
// string, its User is subjectUser, its Type is a shared constant for built-in
// types, its Amount is set only for purchase and refund (amounts on other
// types are validated, then dropped) and its Props is a copy of the raw props
// object. Decode never panics and does not retain data.
func Decode(data []byte, subjectUser string, now int64, lim Limits) (Event, error) {
	var ev Event
	switch {
	case subjectUser == "":
		return ev, invalid(ReasonBadSubject, "the subject has no user token")
	case len(data) == 0:
		return ev, invalid(ReasonEmpty, "empty payload")
	case len(data) > lim.MaxPayload:
		return ev, invalid(ReasonTooLarge, fmt.Sprintf("payload is %d bytes, limit %d", len(data), lim.MaxPayload))
	case !utf8.Valid(data):
		return ev, invalid(ReasonInvalidUTF8, "payload is not valid UTF-8")
	}
	s := scanner{data: data}
	s.skipWS()
	if s.peek() != '{' {
		return ev, notObject(&s)
	}
	s.pos++
	var (
		seen   uint8
		ts     int64
		amount int64
	)
	s.skipWS()
	if s.peek() == '}' {
		s.pos++
	} else {
		for {
			s.skipWS()
			key, esc, ok := s.scanString()
			if !ok {
				return Event{}, syntaxError(&s, "expected a field name")
			}
			if esc {
				var lone bool
				if key, lone = unescape(key); lone {
					return Event{}, loneSurrogate("a field name")
				}
			}
			f := fieldOf(key)
			if f == 0 {
				return Event{}, invalid(ReasonUnknownField, "unknown field "+quote(key))
			}
			if seen&f != 0 {
				return Event{}, invalid(ReasonDuplicateField, "duplicate field "+quote(key))
			}
			seen |= f
			s.skipWS()
			if s.peek() != ':' {
				return Event{}, syntaxError(&s, "expected ':'")
			}
			s.pos++
			s.skipWS()
			var err error
			switch f {
			case fieldID:
				err = decodeID(&s, &ev)
			case fieldUser:
				err = decodeUser(&s, &ev, subjectUser)
			case fieldType:
				err = decodeType(&s, &ev)
			case fieldTS:
				ts, err = decodeTS(&s)
			case fieldAmount:
				amount, err = decodeAmount(&s, lim.MaxAmount)
			case fieldProps:
				err = decodeProps(&s, &ev)
			}
			if err != nil {
				return Event{}, err
			}
			s.skipWS()
			c := s.peek()
			if c == ',' {
				s.pos++
				continue
			}
			if c == '}' {
				s.pos++
				break
			}
			return Event{}, syntaxError(&s, "expected ',' or '}'")
		}
	}
	s.skipWS()
	if s.pos < len(data) {
		return Event{}, invalid(ReasonTrailingData, fmt.Sprintf("%d bytes after the object: %s", len(data)-s.pos, quote(data[s.pos:])))
	}
	switch {
	case seen&fieldID == 0:
		return Event{}, invalid(ReasonMissingID, `no "id" field`)
	case seen&fieldUser == 0:
		return Event{}, invalid(ReasonMissingUser, `no "user" field`)
	case seen&fieldType == 0:
		return Event{}, invalid(ReasonMissingType, `no "type" field`)
	case seen&fieldTS == 0:
		return Event{}, invalid(ReasonMissingTS, `no "ts" field`)
	}
	if ev.Type == TypePurchase || ev.Type == TypeRefund {
		if seen&fieldAmount == 0 {
			return Event{}, invalid(ReasonMissingAmount, ev.Type+` without "amount"`)
		}
		ev.Amount = amount
	}
	if maxTS := satAdd(now, lim.MaxFuture.Milliseconds()); ts > maxTS {
		return Event{}, invalid(ReasonFutureTS, fmt.Sprintf("ts %d is %v ahead of now %d (limit %v)",
			ts, time.Duration(ts-now)*time.Millisecond, now, lim.MaxFuture))
	}
	if minTS := satAdd(now, -lim.MaxAge.Milliseconds()); ts < minTS {
		return Event{}, invalid(ReasonStaleTS, fmt.Sprintf("ts %d is %v behind now %d (limit %v)",
			ts, time.Duration(now-ts)*time.Millisecond, now, lim.MaxAge))
	}
	ev.TS = ts
	if err := checkProps(&ev); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// notObject classifies a document that does not start with '{'.
func notObject(s *scanner) error {
	if s.pos >= len(s.data) {
		return invalid(ReasonNotJSON, "payload holds only white space")
	}
	start := s.pos
	if s.skipValue(1, 512) == scanOK {
		s.skipWS()
		if s.pos == len(s.data) {
			return invalid(ReasonNotObject, "top level is not an object: "+quote(s.data[start:]))
		}
	}
	return invalid(ReasonNotJSON, "not JSON: "+quote(s.data[start:]))
}

func syntaxError(s *scanner, what string) error {
	if s.pos >= len(s.data) {
		return invalid(ReasonNotJSON, what+" at offset "+strconv.Itoa(s.pos)+", got end of input")
	}
	return invalid(ReasonNotJSON, what+" at offset "+strconv.Itoa(s.pos)+", got "+quote(s.data[s.pos:]))
}

// wrongType reports a field value that is valid JSON of the wrong type with
// reason, or a syntax error as not_json.
func wrongType(s *scanner, reason, want string) error {
	start := s.pos
	if s.skipValue(1, 512) != scanOK {
		return syntaxError(s, "invalid value")
	}
	return invalid(reason, want+", got "+quote(s.data[start:s.pos]))
}

// stringValue reads a string field value; ok is false (with the error set)
// when the value is not a string.
func stringValue(s *scanner, reason, name string) ([]byte, error) {
	if s.peek() != '"' {
		return nil, wrongType(s, reason, `"`+name+`" must be a string`)
	}
	raw, esc, ok := s.scanString()
	if !ok {
		return nil, syntaxError(s, "invalid string")
	}
	if esc {
		var lone bool
		if raw, lone = unescape(raw); lone {
			return nil, loneSurrogate(name)
		}
	}
	return raw, nil
}

func loneSurrogate(where string) error {
	return invalid(ReasonInvalidUTF8, where+" escapes a lone UTF-16 surrogate")
}

// hasControl reports whether b (valid UTF-8) holds a C0 control, DEL or a C1
// control (U+0080–U+009F, encoded 0xC2 0x80–0x9F).
func hasControl(b []byte) bool {
	for i, c := range b {
		if c < 0x20 || c == 0x7f || c == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f {
			return true
		}
	}
	return false
}

func checkName(b []byte, reason, name string) error {
	switch {
	case len(b) == 0:
		return invalid(reason, `"`+name+`" is empty`)
	case len(b) > MaxIDLen:
		return invalid(reason, fmt.Sprintf(`"%s" is %d bytes, limit %d: %s`, name, len(b), MaxIDLen, quote(b)))
	case hasControl(b):
		return invalid(reason, `"`+name+`" holds a control character: `+quote(b))
	}
	return nil
}

func decodeID(s *scanner, ev *Event) error {
	b, err := stringValue(s, ReasonBadID, "id")
	if err != nil {
		return err
	}
	if err := checkName(b, ReasonInvalidID, "id"); err != nil {
		return err
	}
	ev.ID = string(b)
	return nil
}

func decodeUser(s *scanner, ev *Event, subject string) error {
	b, err := stringValue(s, ReasonBadUser, "user")
	if err != nil {
		return err
	}
	if err := checkName(b, ReasonInvalidUser, "user"); err != nil {
		return err
	}
	if string(b) != subject {
		return invalid(ReasonUserMismatch, fmt.Sprintf("user %s does not match subject user %s", quote(b), quote([]byte(subject))))
	}
	ev.User = subject
	return nil
}

func decodeType(s *scanner, ev *Event) error {
	b, err := stringValue(s, ReasonBadType, "type")
	if err != nil {
		return err
	}
	if len(b) == 0 || len(b) > MaxTypeLen {
		return invalid(ReasonInvalidType, fmt.Sprintf(`"type" must be 1–%d bytes, got %d: %s`, MaxTypeLen, len(b), quote(b)))
	}
	for _, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return invalid(ReasonInvalidType, `"type" must match [a-z0-9_-]: `+quote(b))
		}
	}
	ev.Type = internType(b)
	return nil
}

// internType returns the shared constant for built-in types (no allocation).
func internType(b []byte) string {
	switch string(b) {
	case TypeSignup:
		return TypeSignup
	case TypeLogin:
		return TypeLogin
	case TypeView:
		return TypeView
	case TypeInteraction:
		return TypeInteraction
	case TypeTask:
		return TypeTask
	case TypePurchase:
		return TypePurchase
	case TypeRefund:
		return TypeRefund
	case TypeCoupon:
		return TypeCoupon
	case TypeReferral:
		return TypeReferral
	case TypeSupport:
		return TypeSupport
	case TypeProfile:
		return TypeProfile
	}
	return string(b)
}

func decodeTS(s *scanner) (int64, error) {
	switch c := s.peek(); {
	case c == '"':
		raw, esc, ok := s.scanString()
		if !ok {
			return 0, syntaxError(s, "invalid string")
		}
		if esc {
			var lone bool
			if raw, lone = unescape(raw); lone {
				return 0, loneSurrogate("ts")
			}
		}
		ms, ok := parseRFC3339(raw)
		if !ok {
			return 0, invalid(ReasonBadTS, "ts is not an RFC 3339 date-time: "+quote(raw))
		}
		if ms < 0 {
			return 0, invalid(ReasonBadTS, "ts is before 1970: "+quote(raw))
		}
		return ms, nil
	case c == '-' || '0' <= c && c <= '9':
		raw, ok := s.scanNumber()
		if !ok {
			return 0, syntaxError(s, "invalid number")
		}
		if raw[0] == '-' {
			return 0, invalid(ReasonBadTS, "ts is negative: "+quote(raw))
		}
		var v int64
		for _, c := range raw {
			if c < '0' || c > '9' {
				return 0, invalid(ReasonBadTS, "ts is not an integer number of milliseconds: "+quote(raw))
			}
			if v > (math.MaxInt64-9)/10 {
				return 0, invalid(ReasonBadTS, "ts overflows: "+quote(raw))
			}
			v = v*10 + int64(c-'0')
		}
		return v, nil
	}
	return 0, wrongType(s, ReasonBadTS, `"ts" must be an RFC 3339 string or integer milliseconds`)
}

func decodeAmount(s *scanner, maxAmount float64) (int64, error) {
	if c := s.peek(); c != '-' && (c < '0' || c > '9') {
		return 0, wrongType(s, ReasonBadAmount, `"amount" must be a number`)
	}
	raw, ok := s.scanNumber()
	if !ok {
		return 0, syntaxError(s, "invalid number")
	}
	maxMilli := int64(math.MaxInt64)
	if m := maxAmount * 1000; m < 9e18 {
		maxMilli = int64(math.Floor(m))
	}
	return parseMilli(raw, maxMilli)
}

// parseMilli converts a JSON number (already validated) to milli-units,
// exactly, rounding half away from zero.
func parseMilli(raw []byte, maxMilli int64) (int64, error) {
	i := 0
	neg := raw[0] == '-'
	if neg {
		i++
	}
	intStart := i
	for i < len(raw) && '0' <= raw[i] && raw[i] <= '9' {
		i++
	}
	intPart := raw[intStart:i]
	var frac []byte
	if i < len(raw) && raw[i] == '.' {
		i++
		j := i
		for i < len(raw) && '0' <= raw[i] && raw[i] <= '9' {
			i++
		}
		frac = raw[j:i]
	}
	var exp int64
	if i < len(raw) { // 'e' or 'E'
		i++
		eneg := false
		if raw[i] == '+' || raw[i] == '-' {
			eneg = raw[i] == '-'
			i++
		}
		for ; i < len(raw); i++ {
			if exp < 1e9 {
				exp = exp*10 + int64(raw[i]-'0')
			}
		}
		if eneg {
			exp = -exp
		}
	}
	// The significant digits are intPart‖frac; the decimal point sits after
	// len(intPart)+exp of them, and after 3 more in milli-units.
	n := len(intPart) + len(frac)
	digit := func(k int) byte {
		if k < len(intPart) {
			return intPart[k]
		}
		return frac[k-len(intPart)]
	}
	lead := 0
	for lead < n && digit(lead) == '0' {
		lead++
	}
	if lead == n {
		return 0, nil // zero, including -0
	}
	if neg {
		if f, err := strconv.ParseFloat(string(raw), 64); err != nil && math.IsInf(f, 0) {
			return 0, invalid(ReasonAbsurdAmount, "amount overflows a float64: "+quote(raw))
		}
		return 0, invalid(ReasonNegativeAmount, "amount is negative: "+quote(raw))
	}
	point := int64(len(intPart)) + exp + 3 - int64(lead) // integer digits of the milli value
	absurd := func() error {
		return invalid(ReasonAbsurdAmount, fmt.Sprintf("amount %s exceeds %v", quote(raw), float64(maxMilli)/1000))
	}
	if point > 19 {
		return 0, absurd()
	}
	var v uint64
	for k := int64(0); k < point; k++ {
		d := uint64(0)
		if idx := lead + int(k); idx < n {
			d = uint64(digit(idx) - '0')
		}
		v = v*10 + d // point ≤ 19 digits: fits in uint64
	}
	if point >= 0 && lead+int(point) < n && digit(lead+int(point)) >= '5' {
		v++
	}
	if v > uint64(maxMilli) {
		return 0, absurd()
	}
	return int64(v), nil
}

func decodeProps(s *scanner, ev *Event) error {
	if s.peek() != '{' {
		return wrongType(s, ReasonBadProps, `"props" must be an object`)
	}
	start := s.pos
	switch s.skipValue(1, MaxPropsDepth) {
	case scanDeep:
		return invalid(ReasonBadProps, fmt.Sprintf(`"props" nests deeper than %d levels`, MaxPropsDepth))
	case scanSyntax:
		return syntaxError(s, "invalid props")
	}
	ev.Props = append([]byte(nil), s.data[start:s.pos]...)
	return nil
}

// satAdd returns a+b, saturated to the int64 range.
func satAdd(a, b int64) int64 {
	c := a + b
	if (c > a) != (b > 0) {
		if b > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return c
}
