package scoring

import "unicode/utf8"

// scanner is the lexer under Decode: a cursor over one JSON document that
// validates as it goes. It never allocates except in unescape, and never
// panics: every index is bounds-checked against len(data).
type scanner struct {
	data []byte
	pos  int
}

// scanErr classifies a failed skipValue.
type scanErr uint8

const (
	scanOK     scanErr = iota
	scanSyntax         // not JSON
	scanDeep           // nested deeper than allowed
)

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *scanner) skipWS() {
	for s.pos < len(s.data) && isWS(s.data[s.pos]) {
		s.pos++
	}
}

// peek returns the current byte, or 0 at the end of input.
func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanString reads a string starting at the opening quote. It returns the raw
// bytes between the quotes and whether they hold escapes; ok is false on a
// syntax error (raw control character, bad escape, no closing quote).
func (s *scanner) scanString() (raw []byte, escaped, ok bool) {
	d := s.data
	if s.pos >= len(d) || d[s.pos] != '"' {
		return nil, false, false
	}
	start := s.pos + 1
	for i := start; i < len(d); i++ {
		switch c := d[i]; {
		case c == '"':
			s.pos = i + 1
			return d[start:i], escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				return nil, false, false
			}
			i++
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(d) || !isHex(d[i+1]) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) {
					return nil, false, false
				}
				i += 4
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		}
	}
	return nil, false, false
}

func hexVal(c byte) rune {
	switch {
	case c <= '9':
		return rune(c - '0')
	case c >= 'a':
		return rune(c-'a') + 10
	default:
		return rune(c-'A') + 10
	}
}

func hex4(b []byte) rune {
	return hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3])
}

// unescape decodes the escapes of a string body already validated by
// scanString. lone is true when the body escapes a lone UTF-16 surrogate:
// callers reject it (encoding/json would turn it into U+FFFD, making distinct
// IDs such as "\ud800" and "\udc00" equal).
func unescape(raw []byte) (out []byte, lone bool) {
	out = make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(raw[i+1 : i+5])
			i += 4
			if 0xD800 <= r && r < 0xDC00 && i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				if r2 := hex4(raw[i+3 : i+7]); 0xDC00 <= r2 && r2 < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					i += 6
				}
			}
			if 0xD800 <= r && r < 0xE000 {
				return nil, true
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, raw[i])
		}
	}
	return out, false
}

// scanNumber reads a JSON number (RFC 8259 grammar) and returns its bytes.
func (s *scanner) scanNumber() (raw []byte, ok bool) {
	d, i := s.data, s.pos
	start := i
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
		if i == j {
			return nil, false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
		if i == j {
			return nil, false
		}
	}
	s.pos = i
	return d[start:i], true
}

// literal consumes word (true, false, null) at the cursor.
func (s *scanner) literal(word string) bool {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return false
	}
	s.pos += len(word)
	return true
}

// skipValue validates one JSON value at the cursor (after white space) and
// moves past it. depth is the nesting level of the value itself: an object or
// array at depth > maxDepth fails with scanDeep.
func (s *scanner) skipValue(depth, maxDepth int) scanErr {
	s.skipWS()
	switch c := s.peek(); {
	case c == '"':
		if _, _, ok := s.scanString(); !ok {
			return scanSyntax
		}
		return scanOK
	case c == '-' || '0' <= c && c <= '9':
		if _, ok := s.scanNumber(); !ok {
			return scanSyntax
		}
		return scanOK
	case c == 't':
		return okIf(s.literal("true"))
	case c == 'f':
		return okIf(s.literal("false"))
	case c == 'n':
		return okIf(s.literal("null"))
	case c == '{' || c == '[':
		if depth > maxDepth {
			return scanDeep
		}
		return s.skipContainer(c, depth, maxDepth)
	default:
		return scanSyntax
	}
}

func okIf(ok bool) scanErr {
	if ok {
		return scanOK
	}
	return scanSyntax
}

func (s *scanner) skipContainer(open byte, depth, maxDepth int) scanErr {
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	s.pos++
	s.skipWS()
	if s.peek() == closer {
		s.pos++
		return scanOK
	}
	for {
		if open == '{' {
			s.skipWS()
			if _, _, ok := s.scanString(); !ok {
				return scanSyntax
			}
			s.skipWS()
			if s.peek() != ':' {
				return scanSyntax
			}
			s.pos++
		}
		if err := s.skipValue(depth+1, maxDepth); err != scanOK {
			return err
		}
		s.skipWS()
		switch s.peek() {
		case ',':
			s.pos++
		case closer:
			s.pos++
			return scanOK
		default:
			return scanSyntax
		}
	}
}
