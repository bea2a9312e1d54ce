package websocket

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// TestStatusCodeValidOnWire follows RFC 6455 §7.4: the codes of §7.4.1 that
// an endpoint may send, the IANA registrations 1012-1014, and the ranges of
// §7.4.2 for libraries and applications. 1004 is reserved, and 1005, 1006
// and 1015 only ever describe a closure locally.
func TestStatusCodeValidOnWire(t *testing.T) {
	tests := []struct {
		code StatusCode
		want bool
	}{
		{0, false},
		{999, false},
		{1000, true},
		{1001, true},
		{1002, true},
		{1003, true},
		{1004, false},
		{1005, false},
		{1006, false},
		{1007, true},
		{1008, true},
		{1009, true},
		{1010, true},
		{1011, true},
		{1012, true},
		{1013, true},
		{1014, true},
		{1015, false},
		{1016, false},
		{2999, false},
		{3000, true},
		{3999, true},
		{4000, true},
		{4999, true},
		{5000, false},
		{65535, false},
		{-1, false},
	}
	for _, tc := range tests {
		if got := tc.code.validOnWire(); got != tc.want {
			t.Errorf("StatusCode(%d).validOnWire() = %v, want %v", int(tc.code), got, tc.want)
		}
	}
}

func TestParseClosePayload(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		code    StatusCode
		reason  string
		wantErr bool
	}{
		// RFC 6455 §7.1.5: a close frame with no code reads as 1005.
		{"empty", "", StatusNoStatusReceived, "", false},
		{"one byte", "\x03", 0, "", true},
		{"code only", "\x03\xe8", StatusNormalClosure, "", false},
		{"code and reason", "\x03\xe9bye", StatusGoingAway, "bye", false},
		{"application code", "\x0f\xa0x", 4000, "x", false},
		{"UTF-8 reason", "\x03\xe8h\xc3\xa9", StatusNormalClosure, "h\u00e9", false},
		{"123-byte reason", "\x03\xe8" + strings.Repeat("r", 123), StatusNormalClosure, strings.Repeat("r", 123), false},
		{"code 0", "\x00\x00", 0, "", true},
		{"code 999", "\x03\xe7", 0, "", true},
		{"code 1004", "\x03\xec", 0, "", true},
		{"code 1005", "\x03\xed", 0, "", true},
		{"code 1006", "\x03\xee", 0, "", true},
		{"code 1015", "\x03\xf7", 0, "", true},
		{"code 2999", "\x0b\xb7", 0, "", true},
		{"code 5000", "\x13\x88", 0, "", true},
		{"code 65535", "\xff\xff", 0, "", true},
		{"invalid UTF-8 reason", "\x03\xe8\xff", 0, "", true},
		{"reason cut in a sequence", "\x03\xe8h\xc3", 0, "", true},
		{"surrogate in reason", "\x03\xe8\xed\xa0\x80", 0, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ce, err := parseClosePayload([]byte(tc.payload))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseClosePayload(% x) = %+v, want an error", tc.payload, ce)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseClosePayload(% x): %v", tc.payload, err)
			}
			if ce.Code != tc.code || ce.Reason != tc.reason {
				t.Fatalf("parseClosePayload(% x) = %d %q, want %d %q", tc.payload, ce.Code, ce.Reason, tc.code, tc.reason)
			}
		})
	}
}

func TestAppendClosePayload(t *testing.T) {
	tests := []struct {
		name    string
		code    StatusCode
		reason  string
		want    string
		wantErr bool
	}{
		{"normal", StatusNormalClosure, "", "\x03\xe8", false},
		{"with reason", StatusGoingAway, "bye", "\x03\xe9bye", false},
		{"application code", 4999, "", "\x13\x87", false},
		{"123-byte reason", StatusNormalClosure, strings.Repeat("r", 123), "\x03\xe8" + strings.Repeat("r", 123), false},
		// RFC 6455 §5.5: 124 bytes and the code make 126, over a control
		// frame's 125.
		{"124-byte reason", StatusNormalClosure, strings.Repeat("r", 124), "", true},
		{"invalid UTF-8 reason", StatusNormalClosure, "\xff", "", true},
		// 1005 stands for a close frame without a code: its payload is empty.
		{"1005 without reason", StatusNoStatusReceived, "", "", false},
		{"1005 with reason", StatusNoStatusReceived, "why", "", true},
		{"1006", StatusAbnormalClosure, "", "", true},
		{"1015", statusTLSHandshakeFailure, "", "", true},
		{"1004", 1004, "", "", true},
		{"0", 0, "", "", true},
		{"5000", 5000, "", "", true},
		{"70000", 70000, "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("prefix")
			got, err := appendClosePayload(prefix, tc.code, tc.reason)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("appendClosePayload(%d, %q) = % x, want an error", int(tc.code), tc.reason, got)
				}
				// The caller sees this error: it says where it comes from.
				if !strings.HasPrefix(err.Error(), "websocket: ") {
					t.Errorf("error %q does not start with \"websocket: \"", err)
				}
				if string(got) != "prefix" {
					t.Errorf("on error, appendClosePayload returned % x, want the buffer unchanged", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("appendClosePayload(%d, %q): %v", int(tc.code), tc.reason, err)
			}
			if string(got) != "prefix"+tc.want {
				t.Fatalf("appendClosePayload(%d, %q) = % x, want % x", int(tc.code), tc.reason, got, "prefix"+tc.want)
			}
			// What is sent is what the peer accepts.
			ce, err := parseClosePayload(got[len(prefix):])
			if err != nil || ce.Code != tc.code || ce.Reason != tc.reason {
				t.Fatalf("parsing it back = %+v, %v", ce, err)
			}
		})
	}
}

func TestCloseStatus(t *testing.T) {
	ce := &CloseError{Code: StatusGoingAway, Reason: "bye"}
	tests := []struct {
		name string
		err  error
		want StatusCode
	}{
		{"close error", ce, StatusGoingAway},
		{"wrapped", fmt.Errorf("reading: %w", ce), StatusGoingAway},
		{"wrapped twice", fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", ce)), StatusGoingAway},
		{"joined", errors.Join(io.EOF, ce), StatusGoingAway},
		{"no status", &CloseError{Code: StatusNoStatusReceived}, StatusNoStatusReceived},
		{"abnormal closure", &abnormalClosure{err: io.EOF}, StatusAbnormalClosure},
		{"wrapped abnormal closure", fmt.Errorf("x: %w", &abnormalClosure{err: io.EOF}), StatusAbnormalClosure},
		{"nil", nil, -1},
		{"EOF", io.EOF, -1},
		{"other", errors.New("websocket: something else"), -1},
		{"formatted, not wrapped", fmt.Errorf("reading: %v", ce), -1},
	}
	for _, tc := range tests {
		if got := CloseStatus(tc.err); got != tc.want {
			t.Errorf("%s: CloseStatus = %d, want %d", tc.name, int(got), int(tc.want))
		}
	}
}

func TestStatusCodeString(t *testing.T) {
	tests := []struct {
		code StatusCode
		want string
	}{
		{StatusNormalClosure, "1000 (normal closure)"},
		{StatusGoingAway, "1001 (going away)"},
		{StatusNoStatusReceived, "1005 (no status received)"},
		{StatusAbnormalClosure, "1006 (abnormal closure)"},
		{StatusInvalidPayload, "1007 (invalid payload data)"},
		{StatusMessageTooBig, "1009 (message too big)"},
		{StatusBadGateway, "1014 (bad gateway)"},
		{statusTLSHandshakeFailure, "1015 (TLS handshake failure)"},
		{1004, "1004"},
		{4000, "4000"},
		{-1, "-1"},
	}
	for _, tc := range tests {
		if got := tc.code.String(); got != tc.want {
			t.Errorf("StatusCode(%d).String() = %q, want %q", int(tc.code), got, tc.want)
		}
	}
}

func TestCloseErrorMessage(t *testing.T) {
	tests := []struct {
		err  *CloseError
		want string
	}{
		{&CloseError{Code: StatusNormalClosure}, "websocket: peer closed the connection with status 1000 (normal closure)"},
		{&CloseError{Code: 4001, Reason: "bye\n"}, `websocket: peer closed the connection with status 4001: "bye\n"`},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

// TestTruncateUTF8 checks the cut of a reason that fail makes fit a close
// frame: never inside a sequence, never more than needed.
func TestTruncateUTF8(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"ab\u00e9", "ab\u00e9"},
		{"ab\xc3", "ab"},
		{"ab\xe2\x82", "ab"},
		{"ab\xf0\x9d\x84", "ab"},
	}
	for _, tc := range tests {
		if got := truncateUTF8(tc.in); got != tc.want {
			t.Errorf("truncateUTF8(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
