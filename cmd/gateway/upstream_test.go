package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/ftpgw/ftpgw/ftpcore"
)

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    upstream
		wantErr string // substring of the error; "" means success
	}{
		{
			name: "full",
			raw:  "ftp://alice:s3cret@ftp.example.net:2121/pub/data",
			want: upstream{Addr: "ftp.example.net:2121", User: "alice", Password: "s3cret", Root: "pub/data"},
		},
		{
			name: "default port",
			raw:  "ftp://alice:pw@ftp.example.net/",
			want: upstream{Addr: "ftp.example.net:21", User: "alice", Password: "pw", Root: ""},
		},
		{
			name: "no path is the login directory",
			raw:  "ftp://alice:pw@host",
			want: upstream{Addr: "host:21", User: "alice", Password: "pw", Root: ""},
		},
		{
			name: "anonymous by default",
			raw:  "ftp://host/pub",
			want: upstream{Addr: "host:21", User: "anonymous", Password: "anonymous@", Root: "pub"},
		},
		{
			name: "explicit anonymous without password",
			raw:  "ftp://anonymous@host",
			want: upstream{Addr: "host:21", User: "anonymous", Password: "anonymous@"},
		},
		{
			name: "anonymous with its own password",
			raw:  "ftp://anonymous:me%40example.org@host",
			want: upstream{Addr: "host:21", User: "anonymous", Password: "me@example.org"},
		},
		{
			name: "user without password",
			raw:  "ftp://bob@host",
			want: upstream{Addr: "host:21", User: "bob", Password: ""},
		},
		{
			name: "percent-decoded userinfo",
			raw:  "ftp://dom%5Cuser:p%40ss%3Aw%2Frd@host",
			want: upstream{Addr: "host:21", User: `dom\user`, Password: "p@ss:w/rd"},
		},
		{
			name: "absolute root with %2F",
			raw:  "ftp://u:p@host/%2Fsrv/data",
			want: upstream{Addr: "host:21", User: "u", Password: "p", Root: "/srv/data"},
		},
		{
			name: "absolute root with lower-case %2f",
			raw:  "ftp://u:p@host/%2fsrv",
			want: upstream{Addr: "host:21", User: "u", Password: "p", Root: "/srv"},
		},
		{
			name: "%2F alone is the server's root",
			raw:  "ftp://u:p@host/%2F",
			want: upstream{Addr: "host:21", User: "u", Password: "p", Root: "/"},
		},
		{
			name: "%2F later in the path is only a slash",
			raw:  "ftp://u:p@host/pub%2Fdata",
			want: upstream{Addr: "host:21", User: "u", Password: "p", Root: "pub/data"},
		},
		{
			name: "escaped characters in the path",
			raw:  "ftp://u:p@host/my%20files/",
			want: upstream{Addr: "host:21", User: "u", Password: "p", Root: "my files"},
		},
		{
			name: "trailing slash dropped",
			raw:  "ftp://u:p@host/pub/",
			want: upstream{Addr: "host:21", User: "u", Password: "p", Root: "pub"},
		},
		{
			name: "upper-case scheme",
			raw:  "FTP://u:p@host/",
			want: upstream{Addr: "host:21", User: "u", Password: "p"},
		},
		{
			name: "IPv6 host",
			raw:  "ftp://u:p@[::1]:2121/x",
			want: upstream{Addr: "[::1]:2121", User: "u", Password: "p", Root: "x"},
		},
		{
			name: "ftps is implicit FTPS on port 990",
			raw:  "ftps://u:p@host/pub",
			want: upstream{TLS: ftpcore.TLSImplicit, Addr: "host:990", User: "u", Password: "p", Root: "pub"},
		},
		{
			name: "ftps with a port",
			raw:  "ftps://u:p@host:2990/",
			want: upstream{TLS: ftpcore.TLSImplicit, Addr: "host:2990", User: "u", Password: "p"},
		},
		{
			name: "ftpes is explicit FTPS on port 21",
			raw:  "ftpes://u:p@host/pub",
			want: upstream{TLS: ftpcore.TLSExplicit, Addr: "host:21", User: "u", Password: "p", Root: "pub"},
		},
		{
			name: "ftpes with a port",
			raw:  "ftpes://u:p@host:2121/%2Fsrv",
			want: upstream{TLS: ftpcore.TLSExplicit, Addr: "host:2121", User: "u", Password: "p", Root: "/srv"},
		},
		{
			name: "upper-case FTPS scheme",
			raw:  "FTPS://[::1]/",
			want: upstream{TLS: ftpcore.TLSImplicit, Addr: "[::1]:990", User: "anonymous", Password: "anonymous@"},
		},
		{name: "empty", raw: "", wantErr: "no scheme"},
		{name: "no scheme", raw: "host:21/pub", wantErr: "not supported"},
		{name: "http", raw: "http://host/", wantErr: `scheme "http" is not supported`},
		{name: "sftp", raw: "sftp://host/", wantErr: `scheme "sftp" is not supported; use ftp://, ftpes:// (explicit FTPS) or ftps:// (implicit FTPS)`},
		{name: "ftpes opaque", raw: "ftpes:host", wantErr: "write ftpes://host, with two slashes"},
		{name: "ftps bad port", raw: "ftps://host:0/", wantErr: "bad port"},
		{name: "no host", raw: "ftp:///pub", wantErr: "no host"},
		{name: "only a port", raw: "ftp://:21/", wantErr: "no host"},
		{name: "opaque", raw: "ftp:host", wantErr: "two slashes"},
		{name: "bad port", raw: "ftp://host:99999/", wantErr: "bad port"},
		{name: "port zero", raw: "ftp://host:0/", wantErr: "bad port"},
		{name: "query", raw: "ftp://host/pub?type=i", wantErr: "query"},
		{name: "empty query", raw: "ftp://host/pub?", wantErr: "query"},
		{name: "fragment", raw: "ftp://host/pub#x", wantErr: "fragment"},
		{name: "empty fragment", raw: "ftp://host/pub#", wantErr: "fragment"},
		{name: "CR in user", raw: "ftp://a%0Db:p@host/", wantErr: "user name contains CR, LF or NUL"},
		{name: "LF in password", raw: "ftp://u:p%0APASS@host/", wantErr: "password contains CR, LF or NUL"},
		{name: "NUL in password", raw: "ftp://u:p%00@host/", wantErr: "password contains CR, LF or NUL"},
		{name: "CRLF in path", raw: "ftp://u:p@host/pub%0D%0ADELE%20x", wantErr: "path contains CR, LF or NUL"},
		{name: "CRLF in absolute path", raw: "ftp://u:p@host/%2Fsrv%0A", wantErr: "path contains CR, LF or NUL"},
		{name: "raw control character", raw: "ftp://u:p@host/a\nb", wantErr: "invalid control character"},
		{name: "empty first segment", raw: "ftp://u:p@host//srv", wantErr: "empty segment"},
		{name: "bad escape", raw: "ftp://u:p@host/%zz", wantErr: "invalid URL escape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseUpstream(tt.raw)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("parseUpstream(%q) = %+v, want an error containing %q", tt.raw, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseUpstream(%q) error = %q, want it to contain %q", tt.raw, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseUpstream(%q): %v", tt.raw, err)
			}
			if got != tt.want {
				t.Errorf("parseUpstream(%q) = %+v, want %+v", tt.raw, got, tt.want)
			}
		})
	}
}

// Errors must not carry the password back out, even when net/url itself
// refuses the URL (its *url.Error quotes the whole input).
func TestParseUpstreamErrorsHidePassword(t *testing.T) {
	const secret = "hunter2-secret"
	for _, raw := range []string{
		"ftp://u:" + secret + "@host:bad/",
		"ftp://u:" + secret + "@host/\x7f",
		"ftp://u:" + secret + "@host/a\r\n",
		"ftp://u:" + secret + "@host/%zz",
		"sftp://u:" + secret + "@host/",
		"ftps://u:" + secret + "@host:bad/",
		"ftpes://u:" + secret + "@host/%zz",
		"ftp://u:" + secret + "@host/?q",
		"ftp://u:" + secret + " x@host/",
	} {
		_, err := parseUpstream(raw)
		if err == nil {
			t.Errorf("parseUpstream(%q): no error", raw)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("parseUpstream(%q) error leaks the password: %q", raw, err)
		}
	}
}

func TestUpstreamRedaction(t *testing.T) {
	tests := []struct {
		name string
		up   upstream
		want string
	}{
		{
			name: "relative root",
			up:   upstream{Addr: "host:21", User: "alice", Password: "s3cret", Root: "pub/data"},
			want: "ftp://alice:****@host:21/pub/data",
		},
		{
			name: "absolute root",
			up:   upstream{Addr: "host:2121", User: "alice", Password: "s3cret", Root: "/srv/my data"},
			want: "ftp://alice:****@host:2121/%2Fsrv/my%20data",
		},
		{
			name: "login directory",
			up:   upstream{Addr: "host:21", User: "anonymous", Password: "anonymous@"},
			want: "ftp://anonymous:****@host:21",
		},
		{
			name: "no password",
			up:   upstream{Addr: "host:21", User: "bob"},
			want: "ftp://bob@host:21",
		},
		{
			name: "implicit FTPS",
			up:   upstream{TLS: ftpcore.TLSImplicit, Addr: "host:990", User: "alice", Password: "s3cret", Root: "pub"},
			want: "ftps://alice:****@host:990/pub",
		},
		{
			name: "explicit FTPS",
			up:   upstream{TLS: ftpcore.TLSExplicit, Addr: "host:21", User: "alice", Password: "s3cret"},
			want: "ftpes://alice:****@host:21",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.up.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "upstream", tt.up)
			if tt.up.Password != "" && strings.Contains(buf.String(), tt.up.Password) {
				t.Errorf("log line leaks the password: %s", buf.String())
			}
			if tt.up.Password != "" && !strings.Contains(buf.String(), `"password":"****"`) {
				t.Errorf("log line has no redacted password: %s", buf.String())
			}
			if !strings.Contains(buf.String(), `"addr":"`+tt.up.Addr+`"`) {
				t.Errorf("log line lacks the address: %s", buf.String())
			}
			scheme, _, _ := strings.Cut(tt.want, "://")
			if !strings.Contains(buf.String(), `"scheme":"`+scheme+`"`) {
				t.Errorf("log line lacks the scheme %s: %s", scheme, buf.String())
			}
		})
	}
}

// The String form of a parsed upstream parses back to the same upstream,
// password aside.
func TestUpstreamStringRoundTrip(t *testing.T) {
	for _, raw := range []string{
		"ftp://u:p@host:21/pub/data",
		"ftp://u:p@host:21/%2Fsrv/data",
		"ftp://u:p@host:21/%2F",
		"ftp://u:p@host:21/a%20b",
		"ftp://u:p@[::1]:21",
		"ftps://u:p@host:990/pub",
		"ftps://u:p@host:21/pub",
		"ftpes://u:p@host:21/%2Fsrv",
		"ftpes://u:p@host:990",
	} {
		up, err := parseUpstream(raw)
		if err != nil {
			t.Fatalf("parseUpstream(%q): %v", raw, err)
		}
		back, err := parseUpstream(up.String())
		if err != nil {
			t.Fatalf("parseUpstream(%q): %v", up.String(), err)
		}
		back.Password = up.Password
		if back != up {
			t.Errorf("%q -> %q -> %+v, want %+v", raw, up.String(), back, up)
		}
	}
}
