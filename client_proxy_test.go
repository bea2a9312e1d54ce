package websocket

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// connectProxy is an HTTP proxy that only tunnels, for Dial's tests.
type connectProxy struct {
	url      *url.URL
	connects chan string // the CONNECT targets it tunneled to
}

// startConnectProxy starts a CONNECT proxy on loopback. It wants Basic
// credentials user:pass if user is not empty, and answers 407 otherwise; a
// status other than 200 is answered to every CONNECT.
func startConnectProxy(t *testing.T, user, pass string, status int) *connectProxy {
	t.Helper()
	p := &connectProxy{connects: make(chan string, 16)}
	addr := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil || req.Method != http.MethodConnect {
			io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
			return
		}
		wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
		if user != "" && req.Header.Get("Proxy-Authorization") != wantAuth {
			io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
			return
		}
		if status != http.StatusOK {
			fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n\r\n", status, http.StatusText(status))
			return
		}
		target, err := net.DialTimeout("tcp", req.Host, testWait)
		if err != nil {
			io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
			return
		}
		defer target.Close()
		p.connects <- req.Host
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		done := make(chan struct{})
		go func() {
			io.Copy(c, target)
			c.Close()
			close(done)
		}()
		io.Copy(target, br)
		target.Close()
		<-done
	})
	p.url = &url.URL{Scheme: "http", Host: addr}
	if user != "" {
		p.url.User = url.UserPassword(user, pass)
	}
	return p
}

func TestDialProxy(t *testing.T) {
	t.Run("ws", func(t *testing.T) {
		srv, results := startUpgradeServer(t, nil)
		proxy := startConnectProxy(t, "alice", "p@ss:word", http.StatusOK)
		client, _, err := dialTest(t, testCtx(t), wsURL(srv)+"/", &DialOptions{Proxy: http.ProxyURL(proxy.url)})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := <-proxy.connects, srv.Listener.Addr().String(); got != want {
			t.Errorf("proxy tunneled to %q, want %q", got, want)
		}
		res := nextUpgrade(t, results)
		if res.err != nil {
			t.Fatal(res.err)
		}
		roundTrip(t, client, res.conn)
	})
	t.Run("wss", func(t *testing.T) {
		srv, results, trust := startTLSUpgradeServer(t)
		proxy := startConnectProxy(t, "bob", "secret", http.StatusOK)
		client, _, err := dialTest(t, testCtx(t), wsURL(srv)+"/", &DialOptions{Proxy: http.ProxyURL(proxy.url), TLSConfig: trust})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := <-proxy.connects, srv.Listener.Addr().String(); got != want {
			t.Errorf("proxy tunneled to %q, want %q", got, want)
		}
		res := nextUpgrade(t, results)
		if res.err != nil {
			t.Fatal(res.err)
		}
		roundTrip(t, client, res.conn)
	})

	srv, _ := startUpgradeServer(t, nil)
	tests := []struct {
		name    string
		proxy   func(t *testing.T) *url.URL
		errSays string
	}{
		{"no credentials", func(t *testing.T) *url.URL {
			u := *startConnectProxy(t, "alice", "pw", http.StatusOK).url
			u.User = nil
			return &u
		}, "407"},
		{"wrong password", func(t *testing.T) *url.URL {
			u := *startConnectProxy(t, "alice", "pw", http.StatusOK).url
			u.User = url.UserPassword("alice", "nope")
			return &u
		}, "407"},
		{"forbidden", func(t *testing.T) *url.URL { return startConnectProxy(t, "", "", http.StatusForbidden).url }, "403"},
		{"socks5", func(t *testing.T) *url.URL { return &url.URL{Scheme: "socks5", Host: "127.0.0.1:1"} }, "socks5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := dialTest(t, testCtx(t), wsURL(srv)+"/", &DialOptions{Proxy: http.ProxyURL(tt.proxy(t))})
			if c != nil || err == nil {
				t.Fatal("Dial succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.errSays) || !strings.Contains(err.Error(), "proxy") {
				t.Errorf("error %q does not name the proxy and %q", err, tt.errSays)
			}
		})
	}
}
