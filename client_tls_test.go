package websocket

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// startTLSUpgradeServer starts an httptest TLS server calling Upgrade, and
// returns a TLS config that trusts it.
func startTLSUpgradeServer(t *testing.T) (*httptest.Server, <-chan upgradeResult, *tls.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	results := handleUpgrades(t, srv, func(w http.ResponseWriter, r *http.Request) (*Conn, error) {
		return Upgrade(w, r, nil)
	})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused certificates are expected
	srv.StartTLS()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv, results, &tls.Config{RootCAs: roots}
}

// TestDialTLS dials an httptest TLS server, whose certificate is valid for
// 127.0.0.1 and example.com; other hosts are dialed to it by NetDialContext.
func TestDialTLS(t *testing.T) {
	srv, results, trust := startTLSUpgradeServer(t)
	addr := srv.Listener.Addr().String()
	tests := []struct {
		name       string
		url        string
		serverName string
		trusted    bool
		dialed     string // the address NetDialContext gets
		ok         bool
	}{
		{"wss IP", "wss://" + addr + "/", "", true, addr, true},
		{"https IP", "https://" + addr + "/", "", true, addr, true},
		{"ServerName from the host", "wss://example.com/", "", true, "example.com:443", true},
		{"host not in the certificate", "wss://other.test/", "", true, "other.test:443", false},
		{"ServerName set", "wss://other.test/", "example.com", true, "other.test:443", true},
		{"untrusted", "wss://" + addr + "/", "", false, addr, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dialed string
			cfg := &tls.Config{ServerName: tt.serverName}
			if tt.trusted {
				cfg.RootCAs = trust.RootCAs
			}
			opts := &DialOptions{
				TLSConfig: cfg,
				Proxy:     noProxy,
				NetDialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
					dialed = a
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				},
			}
			client, _, err := dialTest(t, testCtx(t), tt.url, opts)
			if dialed != tt.dialed {
				t.Errorf("dialed %q, want %q", dialed, tt.dialed)
			}
			if cfg.ServerName != tt.serverName || cfg.NextProtos != nil {
				t.Errorf("Dial changed the caller's TLS config")
			}
			if !tt.ok {
				if err == nil || !strings.Contains(err.Error(), "TLS") {
					t.Errorf("Dial error %v, want a TLS error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res := nextUpgrade(t, results)
			if res.err != nil {
				t.Fatal(res.err)
			}
			roundTrip(t, client, res.conn)
		})
	}
}
