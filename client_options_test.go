package websocket

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestDialHeadersAndCookies(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	results := handleUpgrades(t, srv, func(w http.ResponseWriter, r *http.Request) (*Conn, error) {
		w.Header().Add("Set-Cookie", "fresh=2; Path=/")
		return Upgrade(w, r, nil)
	})
	srv.Start()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	httpURL, _ := url.Parse(srv.URL + "/")
	jar.SetCookies(httpURL, []*http.Cookie{{Name: "old", Value: "1"}})

	opts := &DialOptions{
		Jar: jar,
		Header: http.Header{
			"Authorization": {"Bearer t0ken"},
			"User-Agent":    {"ws-test/1"},
		},
	}
	if _, _, err := dialTest(t, testCtx(t), wsURL(srv)+"/", opts); err != nil {
		t.Fatal(err)
	}
	res := nextUpgrade(t, results)
	if res.err != nil {
		t.Fatal(res.err)
	}
	for name, want := range map[string]string{"Authorization": "Bearer t0ken", "User-Agent": "ws-test/1", "Cookie": "old=1"} {
		if got := res.header.Values(name); !slices.Equal(got, []string{want}) {
			t.Errorf("server got %s %q, want %q", name, got, want)
		}
	}
	var names []string
	for _, c := range jar.Cookies(httpURL) {
		names = append(names, c.Name+"="+c.Value)
	}
	slices.Sort(names)
	if want := []string{"fresh=2", "old=1"}; !slices.Equal(names, want) {
		t.Errorf("jar holds %q, want %q", names, want)
	}
	if opts.Header.Get("Sec-WebSocket-Key") != "" || len(opts.Header) != 2 {
		t.Errorf("Dial changed the caller's Header: %v", opts.Header)
	}
}

// TestDialRefusesOwnHeaders checks that DialOptions.Header cannot set the
// headers that make the handshake.
func TestDialRefusesOwnHeaders(t *testing.T) {
	for _, name := range []string{
		"Sec-WebSocket-Key", "sec-websocket-key", "Sec-WebSocket-Version",
		"Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "Upgrade", "Connection",
	} {
		t.Run(name, func(t *testing.T) {
			dialed := false
			opts := &DialOptions{
				Header: http.Header{name: {"x"}},
				NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dialed = true
					return nil, errors.New("test dialer does not dial")
				},
			}
			_, _, err := dialTest(t, testCtx(t), "ws://127.0.0.1:1/", opts)
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(name)) {
				t.Errorf("error %v, want one naming %s", err, name)
			}
			if dialed {
				t.Error("Dial dialed anyway")
			}
		})
	}
}

// TestDialRefusesBadOptions checks the options Dial refuses before it
// dials, with an error that says what is wrong, instead of sending a request
// from which net/http silently drops a header, or an ambiguous offer.
func TestDialRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts DialOptions
		want string
	}{
		{"header name with a space", DialOptions{Header: http.Header{"X Trace": {"1"}}}, "not a header name"},
		{"header name with a colon", DialOptions{Header: http.Header{"X-Trace:": {"1"}}}, "not a header name"},
		{"header value with a line break", DialOptions{Header: http.Header{"X-Trace": {"1\r\nX-Injected: 1"}}}, "line break"},
		{"subprotocol with a space", DialOptions{Subprotocols: []string{"chat v2"}}, "not a token"},
		{"subprotocol list in one", DialOptions{Subprotocols: []string{"a,b"}}, "not a token"},
		{"empty subprotocol", DialOptions{Subprotocols: []string{""}}, "not a token"},
		{"subprotocol twice", DialOptions{Subprotocols: []string{"chat", "chat"}}, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dialed := false
			tc.opts.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				dialed = true
				return nil, errors.New("test dialer does not dial")
			}
			_, _, err := dialTest(t, testCtx(t), "ws://127.0.0.1:1/", &tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
			if dialed {
				t.Error("Dial dialed anyway")
			}
		})
	}
}

func TestDialSubprotocol(t *testing.T) {
	tests := []struct {
		name    string
		server  []string
		offered []string
		want    string
	}{
		{"server order wins", []string{"chat.v2", "chat.v1"}, []string{"chat.v1", "chat.v2"}, "chat.v2"},
		{"one shared", []string{"b"}, []string{"a", "b", "c"}, "b"},
		{"none shared", []string{"a"}, []string{"b"}, ""},
		{"none offered", []string{"a"}, nil, ""},
		{"server has none", nil, []string{"a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, results := startUpgradeServer(t, &UpgradeOptions{Subprotocols: tt.server})
			client, resp, err := dialTest(t, testCtx(t), wsURL(srv), &DialOptions{Subprotocols: tt.offered})
			if err != nil {
				t.Fatal(err)
			}
			res := nextUpgrade(t, results)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if got := headerList(res.header, "Sec-WebSocket-Protocol"); !slices.Equal(got, tt.offered) {
				t.Errorf("server saw the offer %q, want %q", got, tt.offered)
			}
			if client.Subprotocol() != tt.want || res.conn.Subprotocol() != tt.want {
				t.Errorf("Subprotocol() client %q, server %q; want %q", client.Subprotocol(), res.conn.Subprotocol(), tt.want)
			}
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tt.want {
				t.Errorf("response Sec-WebSocket-Protocol %q, want %q", got, tt.want)
			}
		})
	}
}
