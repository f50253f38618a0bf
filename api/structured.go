package api

import (
	"encoding/base64"
	"errors"
	"strings"
)

// The structured-field dictionaries of RFC 8941 (and RFC 9651's dates and
// display strings), as far as the digest fields of RFC 9530 need them: the
// parse is complete and strict, so that a malformed field is told from a
// well-formed one, but only the bare items the digest fields use keep
// their value (byte sequences and integers); parameters are checked and
// dropped.

// sfKind is the type of a member's value.
type sfKind int

const (
	sfOther     sfKind = iota // a string, token, decimal, boolean, date, display string or inner list
	sfInteger                 // num
	sfBytes                   // bytes
	sfInnerList               // no value kept
)

type sfValue struct {
	kind  sfKind
	num   int64
	bytes []byte
}

// sfMember is one member of a dictionary: a key and its value, true (an
// sfOther) when the member has none.
type sfMember struct {
	key   string
	value sfValue
}

var errSF = errors.New("malformed structured field")

// parseDictionary parses the field lines of a dictionary field, combined
// as RFC 8941 §4.2 says (joined with commas). A key given twice keeps its
// last value. Members are in order of first appearance.
func parseDictionary(lines []string) ([]sfMember, error) {
	p := sfParser{s: strings.Join(lines, ",")}
	p.skipSP()
	var dict []sfMember
	for !p.done() {
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		var v sfValue
		if p.peek() == '=' {
			p.i++
			if p.peek() == '(' {
				err = p.innerList()
				v.kind = sfInnerList
			} else {
				v, err = p.bareItem()
			}
			if err != nil {
				return nil, err
			}
		}
		if err := p.params(); err != nil {
			return nil, err
		}
		dict = setMember(dict, key, v)
		p.skipOWS()
		if p.done() {
			return dict, nil
		}
		if p.peek() != ',' {
			return nil, errSF
		}
		p.i++
		p.skipOWS()
		if p.done() {
			return nil, errSF // a trailing comma
		}
	}
	return dict, nil
}

func setMember(dict []sfMember, key string, v sfValue) []sfMember {
	for i := range dict {
		if dict[i].key == key {
			dict[i].value = v
			return dict
		}
	}
	return append(dict, sfMember{key, v})
}

type sfParser struct {
	s string
	i int
}

func (p *sfParser) done() bool { return p.i >= len(p.s) }

func (p *sfParser) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}

func (p *sfParser) skipSP() {
	for p.peek() == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for c := p.peek(); c == ' ' || c == '\t'; c = p.peek() {
		p.i++
	}
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }

// isTchar is RFC 9110's tchar.
func isTchar(c byte) bool {
	return isAlpha(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (p *sfParser) key() (string, error) {
	start := p.i
	if c := p.peek(); !isLCAlpha(c) && c != '*' {
		return "", errSF
	}
	for c := p.peek(); isLCAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*'; c = p.peek() {
		p.i++
	}
	return p.s[start:p.i], nil
}

// params parses and drops a value's parameters.
func (p *sfParser) params() error {
	for p.peek() == ';' {
		p.i++
		p.skipSP()
		if _, err := p.key(); err != nil {
			return err
		}
		if p.peek() == '=' {
			p.i++
			if _, err := p.bareItem(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *sfParser) innerList() error {
	p.i++ // '('
	for {
		p.skipSP()
		if p.peek() == ')' {
			p.i++
			return p.params()
		}
		if _, err := p.bareItem(); err != nil {
			return err
		}
		if err := p.params(); err != nil {
			return err
		}
		if c := p.peek(); c != ' ' && c != ')' {
			return errSF
		}
	}
}

func (p *sfParser) bareItem() (sfValue, error) {
	switch c := p.peek(); {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return sfValue{}, p.str()
	case c == ':':
		return p.byteSeq()
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			p.i += 2
			return sfValue{}, nil
		}
	case c == '@':
		p.i++
		v, err := p.number()
		if err != nil || v.kind != sfInteger {
			return sfValue{}, errSF
		}
		return sfValue{}, nil
	case c == '%':
		return sfValue{}, p.displayString()
	case isAlpha(c) || c == '*':
		for c := p.peek(); isTchar(c) || c == ':' || c == '/'; c = p.peek() {
			p.i++
		}
		return sfValue{}, nil
	}
	return sfValue{}, errSF
}

// number parses an integer (15 digits at most) or a decimal (12 before the
// point, 3 after).
func (p *sfParser) number() (sfValue, error) {
	neg := p.peek() == '-'
	if neg {
		p.i++
	}
	var n int64
	digits, point, frac := 0, false, 0
	for {
		c := p.peek()
		switch {
		case isDigit(c):
			if point {
				frac++
			} else {
				digits++
				n = n*10 + int64(c-'0')
			}
		case c == '.' && !point && digits > 0 && digits <= 12:
			point = true
		default:
			if digits == 0 || point && (frac == 0 || frac > 3) || !point && digits > 15 {
				return sfValue{}, errSF
			}
			if point {
				return sfValue{}, nil
			}
			if neg {
				n = -n
			}
			return sfValue{kind: sfInteger, num: n}, nil
		}
		if digits > 15 {
			return sfValue{}, errSF
		}
		p.i++
	}
}

func (p *sfParser) str() error {
	p.i++ // '"'
	for !p.done() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if d := p.peek(); d != '"' && d != '\\' {
				return errSF
			}
			p.i++
		case c == '"':
			return nil
		case c < 0x20 || c > 0x7e:
			return errSF
		}
	}
	return errSF
}

func (p *sfParser) byteSeq() (sfValue, error) {
	p.i++ // ':'
	end := strings.IndexByte(p.s[p.i:], ':')
	if end < 0 {
		return sfValue{}, errSF
	}
	enc := p.s[p.i : p.i+end]
	p.i += end + 1
	for i := 0; i < len(enc); i++ {
		if c := enc[i]; !isAlpha(c) && !isDigit(c) && c != '+' && c != '/' && c != '=' {
			return sfValue{}, errSF
		}
	}
	// RFC 8941 §4.2.7: padding may be missing.
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(enc, "="))
	if err != nil {
		return sfValue{}, errSF
	}
	return sfValue{kind: sfBytes, bytes: b}, nil
}

// displayString parses RFC 9651's %"…" with percent-encoded UTF-8.
func (p *sfParser) displayString() error {
	if p.i+1 >= len(p.s) || p.s[p.i+1] != '"' {
		return errSF
	}
	p.i += 2
	for !p.done() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '%':
			if p.i+2 > len(p.s) || !isLowerHex(p.s[p.i]) || !isLowerHex(p.s[p.i+1]) {
				return errSF
			}
			p.i += 2
		case c == '"':
			return nil
		case c < 0x20 || c > 0x7e:
			return errSF
		}
	}
	return errSF
}

func isLowerHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' }
