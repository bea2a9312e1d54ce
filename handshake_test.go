package websocket

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestAcceptKey uses the example of RFC 6455 §1.3.
func TestAcceptKey(t *testing.T) {
	if got, want := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Fatalf("acceptKey = %q, want %q", got, want)
	}
}

// TestValidKey follows RFC 6455 §4.1 item 7: the key is the base64 encoding
// (standard alphabet, padded) of 16 bytes.
func TestValidKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"dGhlIHNhbXBsZSBub25jZQ==", true},
		{"AAAAAAAAAAAAAAAAAAAAAA==", true},
		{"/+/+/+/+/+/+/+/+/+/+/w==", true},
		{"", false},
		{"dGhlIHNhbXBsZSBub25jZQ=", false},   // 23 characters
		{"dGhlIHNhbXBsZSBub25jZQ===", false}, // 25 characters
		{"dGhlIHNhbXBsZSBub25jZQ", false},    // unpadded
		{"AAAAAAAAAAAAAAAAAAAAAAAA", false},  // 18 bytes
		{"AAAAAAAAAAAAAAAAAAAAAA=A", false},  // padding in the middle
		{"_-_-_-_-_-_-_-_-_-_-_w==", false},  // URL alphabet
		{"dGhlIHNhbXBsZSBub25jZQ!!", false},
		{" dGhlIHNhbXBsZSBub25jZQ=", false},
		// The base64 decoder skips line breaks: only the length check
		// refuses these.
		{"dGhlIHNhbXBsZSBu\nb25jZQ==", false},
		{"dGhlIHNhbXBsZSBub25jZQ==\r\n", false},
	}
	for _, tc := range tests {
		if got := validKey(tc.key); got != tc.want {
			t.Errorf("validKey(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestHeaderHasToken(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		token  string
		want   bool
	}{
		{"exact", []string{"Upgrade"}, "upgrade", true},
		{"lower case", []string{"upgrade"}, "upgrade", true},
		{"mixed case", []string{"UpGrAdE"}, "upgrade", true},
		// Firefox sends this.
		{"keep-alive, Upgrade", []string{"keep-alive, Upgrade"}, "upgrade", true},
		{"no space", []string{"keep-alive,Upgrade"}, "upgrade", true},
		{"padded", []string{"  Upgrade\t"}, "upgrade", true},
		{"second header value", []string{"keep-alive", "Upgrade"}, "upgrade", true},
		{"missing", []string{"keep-alive"}, "upgrade", false},
		{"no header", nil, "upgrade", false},
		{"empty value", []string{""}, "upgrade", false},
		{"substring", []string{"upgraded"}, "upgrade", false},
		{"prefix", []string{"xupgrade"}, "upgrade", false},
		{"inner space", []string{"up grade"}, "upgrade", false},
		{"other separator", []string{"keep-alive; Upgrade"}, "upgrade", false},
		// Tokens are ASCII and compared ignoring ASCII case (RFC 9110
		// §5.6.2); optional whitespace is space and tab (§5.6.3). Unicode
		// case folding or trimming would see a token where an intermediary
		// that follows the RFC sees none.
		{"long s", []string{"web\u017focket"}, "websocket", false},
		{"Kelvin sign", []string{"websoc\u212aet"}, "websocket", false},
		{"no-break space", []string{"Upgrade\u00a0"}, "upgrade", false},
		{"next line", []string{"\u0085Upgrade"}, "upgrade", false},
	}
	for _, tc := range tests {
		h := http.Header{}
		for _, v := range tc.values {
			h.Add("Connection", v)
		}
		if got := headerHasToken(h, "Connection", tc.token); got != tc.want {
			t.Errorf("%s: headerHasToken(%q, %q) = %v, want %v", tc.name, tc.values, tc.token, got, tc.want)
		}
	}
}

func TestHeaderList(t *testing.T) {
	tests := []struct {
		values []string
		want   []string
	}{
		{nil, nil},
		{[]string{""}, nil},
		{[]string{"chat"}, []string{"chat"}},
		{[]string{"chat, superchat"}, []string{"chat", "superchat"}},
		{[]string{"chat", "superchat, v2"}, []string{"chat", "superchat", "v2"}},
		// RFC 9110 §5.6.1: empty list elements are ignored.
		{[]string{" , chat,, ,superchat , "}, []string{"chat", "superchat"}},
		{[]string{"\tchat\t"}, []string{"chat"}},
		// Only space and tab are optional whitespace (RFC 9110 §5.6.3).
		{[]string{"\u00a0chat"}, []string{"\u00a0chat"}},
		{[]string{"\u00a0"}, []string{"\u00a0"}},
	}
	for _, tc := range tests {
		h := http.Header{}
		for _, v := range tc.values {
			h.Add("Sec-WebSocket-Protocol", v)
		}
		if got := headerList(h, "Sec-WebSocket-Protocol"); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("headerList(%q) = %q, want %q", tc.values, got, tc.want)
		}
	}
}

// TestParseExtensions follows the grammar of RFC 6455 §9.1.
func TestParseExtensions(t *testing.T) {
	bare := func(name string) extensionParam { return extensionParam{name: name, bare: true} }
	val := func(name, value string) extensionParam { return extensionParam{name: name, value: value} }
	tests := []struct {
		name    string
		values  []string
		want    []extension
		wantErr bool
	}{
		{"no header", nil, nil, false},
		{"empty value", []string{""}, nil, false},
		{"one", []string{"permessage-deflate"}, []extension{{name: "permessage-deflate"}}, false},
		{
			"several offers",
			[]string{"permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=10, x-webkit-deflate-frame"},
			[]extension{
				{name: "permessage-deflate", params: []extensionParam{bare("client_max_window_bits")}},
				{name: "permessage-deflate", params: []extensionParam{val("server_max_window_bits", "10")}},
				{name: "x-webkit-deflate-frame"},
			},
			false,
		},
		{
			"several headers",
			[]string{"foo", "bar; baz=1", "qux"},
			[]extension{{name: "foo"}, {name: "bar", params: []extensionParam{val("baz", "1")}}, {name: "qux"}},
			false,
		},
		{"quoted value", []string{`x; y="15"`}, []extension{{name: "x", params: []extensionParam{val("y", "15")}}}, false},
		{"escape in quoted value", []string{`x; y="1\5"`}, []extension{{name: "x", params: []extensionParam{val("y", "15")}}}, false},
		{
			"bare and valued params in order",
			[]string{"x; a; b=2; c"},
			[]extension{{name: "x", params: []extensionParam{bare("a"), val("b", "2"), bare("c")}}},
			false,
		},
		{
			"whitespace",
			[]string{"  foo ;  a = 1 ;\tb\t,  bar  "},
			[]extension{{name: "foo", params: []extensionParam{val("a", "1"), bare("b")}}, {name: "bar"}},
			false,
		},
		{"empty elements", []string{", , foo,, bar ,"}, []extension{{name: "foo"}, {name: "bar"}}, false},
		{"only commas", []string{",,,"}, nil, false},
		{"token characters", []string{"a!#$%&'*+-.^_`|~9"}, []extension{{name: "a!#$%&'*+-.^_`|~9"}}, false},

		{"unterminated quote", []string{`x; y="15`}, nil, true},
		{"backslash at the end", []string{`x; y="1\`}, nil, true},
		{"escaped closing quote", []string{`x; y="1\"`}, nil, true},
		{"semicolon with no param", []string{"x;"}, nil, true},
		{"semicolon then comma", []string{"x; , y"}, nil, true},
		{"two semicolons", []string{"x;; a"}, nil, true},
		{"equals with no value", []string{"x; a="}, nil, true},
		{"equals then comma", []string{"x; a=, y"}, nil, true},
		{"equals then semicolon", []string{"x; a=; b"}, nil, true},
		{"quoted value with a space", []string{`x; a="1 2"`}, nil, true},
		{"quoted value with a comma", []string{`x; a="1,2"`}, nil, true},
		{"empty quoted value", []string{`x; a=""`}, nil, true},
		{"no name", []string{"; a=1"}, nil, true},
		{"space in name", []string{"foo bar"}, nil, true},
		{"separator in name", []string{"foo/bar"}, nil, true},
		{"two values", []string{"x; a=1=2"}, nil, true},
		{"value then token", []string{"x; a=1 2"}, nil, true},
		{"bad second header", []string{"foo", "bar;"}, nil, true},
		{"non-ASCII", []string{"f\u00f6o"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.values {
				h.Add("Sec-WebSocket-Extensions", v)
			}
			got, err := parseExtensions(h)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseExtensions(%q) = %+v, want an error", tc.values, got)
				}
				if !strings.HasPrefix(err.Error(), "websocket: ") {
					t.Errorf("error %q does not start with \"websocket: \"", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseExtensions(%q): %v", tc.values, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parseExtensions(%q) =\n%+v\nwant\n%+v", tc.values, got, tc.want)
			}
		})
	}
}
