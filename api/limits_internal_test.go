package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("2001:db8:ffff::/48"),
	}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string // "" for the zero Addr
	}{
		// An untrusted peer is the client, whatever it says.
		{"no header", "192.0.2.7:51000", nil, trusted, "192.0.2.7"},
		{"header from an untrusted peer", "192.0.2.7:51000", []string{"198.51.100.1"}, trusted, "192.0.2.7"},
		{"no proxies trusted", "10.0.0.1:51000", []string{"198.51.100.1"}, nil, "10.0.0.1"},
		{"IPv6 peer", "[2001:db8::5]:51000", []string{"198.51.100.1"}, trusted, "2001:db8::5"},
		{"mapped IPv4 peer", "[::ffff:192.0.2.7]:51000", nil, trusted, "192.0.2.7"},
		{"peer with a zone", "[fe80::1%eth0]:51000", nil, trusted, "fe80::1"},
		{"peer not an address", "@", nil, trusted, ""},
		{"peer without a port", "192.0.2.7", nil, trusted, "192.0.2.7"},

		// A trusted peer: the right-most untrusted entry.
		{"one entry", "10.0.0.1:51000", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
		{"spoofed left-most entries ignored", "10.0.0.1:51000", []string{"1.1.1.1, 2.2.2.2, 198.51.100.1"}, trusted, "198.51.100.1"},
		{"trusted hops skipped", "10.0.0.1:51000", []string{"1.1.1.1, 198.51.100.1, 10.2.3.4, 10.9.9.9"}, trusted, "198.51.100.1"},
		{"several fields are one list", "10.0.0.1:51000", []string{"1.1.1.1, 198.51.100.1", "10.2.3.4"}, trusted, "198.51.100.1"},
		{"spoofed field before the proxy's", "10.0.0.1:51000", []string{"1.1.1.1", "198.51.100.1"}, trusted, "198.51.100.1"},
		{"no spaces", "10.0.0.1:51000", []string{"1.1.1.1,198.51.100.1"}, trusted, "198.51.100.1"},
		{"entry with a port", "10.0.0.1:51000", []string{"198.51.100.1:4711"}, trusted, "198.51.100.1"},
		{"IPv6 entry", "10.0.0.1:51000", []string{"2001:db8::9"}, trusted, "2001:db8::9"},
		{"bracketed IPv6 entry", "10.0.0.1:51000", []string{"[2001:db8::9]"}, trusted, "2001:db8::9"},
		{"bracketed IPv6 entry with a port", "10.0.0.1:51000", []string{"[2001:db8::9]:4711"}, trusted, "2001:db8::9"},
		{"mapped IPv4 entry", "10.0.0.1:51000", []string{"::ffff:198.51.100.1"}, trusted, "198.51.100.1"},
		{"mapped trusted entry skipped", "10.0.0.1:51000", []string{"198.51.100.1, ::ffff:10.1.1.1"}, trusted, "198.51.100.1"},
		{"IPv6 proxy", "[2001:db8:ffff::1]:51000", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
		{"every entry trusted: the left-most", "10.0.0.1:51000", []string{"10.3.3.3, 10.2.2.2"}, trusted, "10.3.3.3"},
		{"trusted peer, empty header", "10.0.0.1:51000", []string{""}, trusted, "10.0.0.1"},

		// Malformed entries end the walk at the last address read.
		{"garbage right of the client", "10.0.0.1:51000", []string{"198.51.100.1, garbage"}, trusted, "10.0.0.1"},
		{"garbage after a trusted hop", "10.0.0.1:51000", []string{"198.51.100.1, garbage, 10.2.2.2"}, trusted, "10.2.2.2"},
		{"garbage left of the client", "10.0.0.1:51000", []string{"garbage, 198.51.100.1"}, trusted, "198.51.100.1"},
		{"unknown", "10.0.0.1:51000", []string{"unknown"}, trusted, "10.0.0.1"},
		{"empty entry", "10.0.0.1:51000", []string{"198.51.100.1, , 10.2.2.2"}, trusted, "10.2.2.2"},
		{"trailing comma", "10.0.0.1:51000", []string{"198.51.100.1,"}, trusted, "10.0.0.1"},
		{"bracketed IPv4", "10.0.0.1:51000", []string{"[198.51.100.1]"}, trusted, "10.0.0.1"},
		{"port out of range", "10.0.0.1:51000", []string{"198.51.100.1:70000"}, trusted, "10.0.0.1"},
		{"a host name", "10.0.0.1:51000", []string{"client.example"}, trusted, "10.0.0.1"},
		{"a prefix", "10.0.0.1:51000", []string{"198.51.100.0/24"}, trusted, "10.0.0.1"},
		{"Forwarded syntax", "10.0.0.1:51000", []string{`for="[2001:db8::9]"`}, trusted, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clientAddr(tt.remote, tt.xff, tt.trusted)
			want := netip.Addr{}
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want {
				t.Errorf("clientAddr(%q, %q) = %v, want %v", tt.remote, tt.xff, got, want)
			}
		})
	}
}

// FuzzClientAddr: whatever the header says, the client is the peer, an
// address the header names, or nothing, and never an address with a zone
// or a mapped IPv4 one.
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"198.51.100.1", "1.1.1.1, 10.2.2.2", "[2001:db8::9]:80", "unknown,,", "::ffff:10.1.1.1", "fe80::1%eth0"} {
		f.Add("10.0.0.1:51000", s)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		got := clientAddr(remote, []string{xff}, trusted)
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("clientAddr(%q, %q) = %v", remote, xff, got)
		}
		peer := parseHostAddr(remote)
		if got != peer && !isTrusted(peer, trusted) {
			t.Fatalf("clientAddr(%q, %q) = %v, from an untrusted peer %v", remote, xff, got, peer)
		}
	})
}

// TestOpenUploadsExpire: an upload not appended to for TempMaxAge no
// longer counts for its client (the sweep deletes it), one appended to
// later does; the 429's Retry-After is when the first would expire; each
// client has its own count.
func TestOpenUploadsExpire(t *testing.T) {
	o := newOpenUploads(Config{MaxClientUploads: 2, TempMaxAge: time.Hour})
	r := httptest.NewRequest(http.MethodPut, "/files/x", nil)
	r.RemoteAddr = "192.0.2.7:5000"
	other := httptest.NewRequest(http.MethodPut, "/files/x", nil)
	other.RemoteAddr = "192.0.2.8:5000"
	for _, n := range []string{"a", "b"} {
		if err := o.add(r, n); err != nil {
			t.Fatalf("add %s: %v", n, err)
		}
	}
	err := o.add(r, "c")
	var p *problem
	if !errors.As(err, &p) || p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "3600" {
		t.Fatalf("third: %v, want 429 with Retry-After 3600", err)
	}
	if err := o.add(other, "d"); err != nil {
		t.Fatalf("another client's: %v", err)
	}
	o.mu.Lock()
	o.byNonce["a"].touched = time.Now().Add(-2 * time.Hour)
	o.byNonce["b"].touched = time.Now().Add(-2 * time.Hour)
	o.mu.Unlock()
	o.touch("b")
	if err := o.add(r, "c"); err != nil {
		t.Fatalf("with a expired: %v", err)
	}
	if err := o.add(r, "e"); err == nil {
		t.Fatal("b touched and c: a third got a place")
	}
	o.remove("b")
	if err := o.add(r, "e"); err != nil {
		t.Fatalf("with b removed: %v", err)
	}
	if len(o.byNonce) != 3 || len(o.clients) != 2 {
		t.Errorf("counted %d uploads of %d clients, want 3 of 2", len(o.byNonce), len(o.clients))
	}
	if newOpenUploads(Config{}) != nil || newOpenUploads(Config{}).add(r, "x") != nil {
		t.Error("no cap: uploads counted")
	}
}
