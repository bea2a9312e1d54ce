package websocket

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// acceptGUID is the fixed string both sides append to the key (RFC 6455 §1.3).
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455
// §4.2.2 item 5.4): base64 of the SHA-1 of the key and the GUID.
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// validKey reports whether key is what RFC 6455 §4.1 item 7 asks a client to
// send: the base64 encoding of 16 bytes.
func validKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(key)
	return err == nil && len(b) == 16
}

// headerHasToken reports whether any of the header's values, read as a
// comma-separated list, holds token, compared case-insensitively. Connection
// and Upgrade are such lists (RFC 9110 §7.6.1, §7.8), and proxies and browsers
// do send "keep-alive, Upgrade".
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for item := range strings.SplitSeq(v, ",") {
			if equalFoldASCII(trimOWS(item), token) {
				return true
			}
		}
	}
	return false
}

// trimOWS trims HTTP's optional white space, spaces and tabs only (RFC 9110
// §5.6.3): strings.TrimSpace would also drop Unicode spaces.
func trimOWS(s string) string {
	return strings.Trim(s, " \t")
}

// equalFoldASCII compares two header tokens ignoring ASCII case only.
// strings.EqualFold folds Unicode too, and would let "webſocket" (a long s)
// or a Kelvin sign pass for "websocket" or "keep-alive".
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// headerList returns the items of a comma-separated list header across all
// its values, trimmed, empty items dropped (RFC 9110 §5.6.1).
func headerList(h http.Header, name string) []string {
	var items []string
	for _, v := range h.Values(name) {
		for item := range strings.SplitSeq(v, ",") {
			if item = trimOWS(item); item != "" {
				items = append(items, item)
			}
		}
	}
	return items
}

// extension is one entry of a Sec-WebSocket-Extensions header (RFC 6455 §9.1):
// a name and its parameters in order, with quoted values unquoted.
type extension struct {
	name   string
	params []extensionParam
}

type extensionParam struct {
	name  string
	value string // "" for a parameter without a value
	bare  bool   // no "=value" at all
}

// parseExtensions parses every Sec-WebSocket-Extensions value of h, in order,
// following the grammar of RFC 6455 §9.1: extensions separated by commas, each
// a token followed by ";"-separated parameters whose values are tokens or
// quoted strings that unquote to tokens.
func parseExtensions(h http.Header) ([]extension, error) {
	var exts []extension
	for _, v := range h.Values("Sec-WebSocket-Extensions") {
		p := extParser{s: v}
		for {
			p.skipSpace()
			if p.done() {
				break
			}
			if p.peek() == ',' { // empty list elements are allowed (RFC 9110 §5.6.1)
				p.i++
				continue
			}
			ext, err := p.extension()
			if err != nil {
				return nil, fmt.Errorf("websocket: malformed Sec-WebSocket-Extensions %q: %w", v, err)
			}
			exts = append(exts, ext)
		}
	}
	return exts, nil
}

type extParser struct {
	s string
	i int
}

func (p *extParser) done() bool { return p.i >= len(p.s) }
func (p *extParser) peek() byte { return p.s[p.i] }

func (p *extParser) skipSpace() {
	for !p.done() && (p.peek() == ' ' || p.peek() == '\t') {
		p.i++
	}
}

func (p *extParser) token() (string, error) {
	start := p.i
	for !p.done() && isTokenChar(p.peek()) {
		p.i++
	}
	if p.i == start {
		if p.done() {
			return "", errors.New("a token is missing at the end")
		}
		return "", fmt.Errorf("unexpected %q at offset %d", p.peek(), p.i)
	}
	return p.s[start:p.i], nil
}

// quoted reads a quoted-string (RFC 9110 §5.6.4) and returns it unescaped.
func (p *extParser) quoted() (string, error) {
	p.i++ // the opening quote
	var b strings.Builder
	for !p.done() {
		c := p.peek()
		p.i++
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if p.done() {
				return "", errors.New("quoted string ends in a backslash")
			}
			c = p.peek()
			p.i++
		}
		b.WriteByte(c)
	}
	return "", errors.New("quoted string is not closed")
}

func (p *extParser) extension() (extension, error) {
	name, err := p.token()
	if err != nil {
		return extension{}, err
	}
	ext := extension{name: name}
	for {
		p.skipSpace()
		if p.done() {
			return ext, nil
		}
		switch p.peek() {
		case ',':
			p.i++
			return ext, nil
		case ';':
			p.i++
		default:
			return extension{}, fmt.Errorf("unexpected %q at offset %d", p.peek(), p.i)
		}
		p.skipSpace()
		param := extensionParam{bare: true}
		if param.name, err = p.token(); err != nil {
			return extension{}, err
		}
		p.skipSpace()
		if !p.done() && p.peek() == '=' {
			p.i++
			p.skipSpace()
			param.bare = false
			if !p.done() && p.peek() == '"' {
				param.value, err = p.quoted()
				// RFC 6455 §9.1: an unquoted value must be a token.
				if err == nil && !isToken(param.value) {
					err = fmt.Errorf("quoted value %q is not a token", param.value)
				}
			} else {
				param.value, err = p.token()
			}
			if err != nil {
				return extension{}, err
			}
		}
		ext.params = append(ext.params, param)
	}
}

// isTokenChar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}
