package api

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestCORSValidate: every entry that is wrong is refused, by name and
// with what is wrong with it.
func TestCORSValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		c     CORS
		field string // CORSError.Field
		err   string // "" for valid
	}{
		{"exact", CORS{AllowedOrigins: []string{"https://app.example.com", "http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:5173"}}, "", ""},
		{"pattern", CORS{AllowedOrigins: []string{"https://*.example.com"}, AllowCredentials: true}, "", ""},
		{"pattern with a port", CORS{AllowedOrigins: []string{"https://*.example.com:8443"}}, "", ""},
		{"any", CORS{AllowedOrigins: []string{"*"}}, "", ""},
		{"another scheme", CORS{AllowedOrigins: []string{"tauri://localhost"}}, "", ""},
		{"extra lists", CORS{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET", "HEAD"}, AllowedHeaders: []string{"X-Thing"}, ExposedHeaders: []string{"X-Other"}}, "", ""},
		{"no origin", CORS{}, "AllowedOrigins", "no allowed origin"},
		{"any with credentials", CORS{AllowedOrigins: []string{"*"}, AllowCredentials: true}, "AllowedOrigins", `allowed origin "*" cannot be combined with credentials`},
		{"any beside others", CORS{AllowedOrigins: []string{"https://a.example", "*"}}, "AllowedOrigins", `allowed origin "*" stands for every origin and must be the only one`},
		{"no scheme", CORS{AllowedOrigins: []string{"app.example.com"}}, "AllowedOrigins", `allowed origin "app.example.com": an origin is scheme://host[:port]`},
		{"pattern without scheme", CORS{AllowedOrigins: []string{"*.example.com"}}, "AllowedOrigins", `allowed origin "*.example.com": a pattern needs a scheme`},
		{"trailing slash", CORS{AllowedOrigins: []string{"https://app.example.com/"}}, "AllowedOrigins", `allowed origin "https://app.example.com/": an origin has no path, query or fragment: write https://app.example.com`},
		{"path", CORS{AllowedOrigins: []string{"https://app.example.com/app"}}, "AllowedOrigins", "an origin has no path"},
		{"user", CORS{AllowedOrigins: []string{"https://me@app.example.com"}}, "AllowedOrigins", "no user name or password"},
		{"empty host", CORS{AllowedOrigins: []string{"https://"}}, "AllowedOrigins", "an origin needs a host"},
		{"port zero", CORS{AllowedOrigins: []string{"https://a.example:0"}}, "AllowedOrigins", `port "0" is not a number from 1 to 65535`},
		{"port too high", CORS{AllowedOrigins: []string{"https://a.example:65536"}}, "AllowedOrigins", `port "65536"`},
		{"empty port", CORS{AllowedOrigins: []string{"https://a.example:"}}, "AllowedOrigins", `port ""`},
		{"bad host", CORS{AllowedOrigins: []string{"https://a b.example"}}, "AllowedOrigins", `"a b.example" is not a host name`},
		{"star inside a label", CORS{AllowedOrigins: []string{"https://app-*.example.com"}}, "AllowedOrigins", "* may only be the whole first label"},
		{"star later", CORS{AllowedOrigins: []string{"https://app.*.example.com"}}, "AllowedOrigins", "* may only be the whole first label"},
		{"star over a TLD", CORS{AllowedOrigins: []string{"https://*.com"}}, "AllowedOrigins", "* must be followed by two labels at least"},
		{"star in IPv6", CORS{AllowedOrigins: []string{"http://[*::1]"}}, "AllowedOrigins", "is not an IPv6 address"},
		{"bad method", CORS{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET POST"}}, "AllowedMethods", `allowed method "GET POST" is not an HTTP method name`},
		{"bad header", CORS{AllowedOrigins: []string{"*"}, AllowedHeaders: []string{"X:Y"}}, "AllowedHeaders", `allowed header "X:Y" is not an HTTP field name`},
		{"bad exposed header", CORS{AllowedOrigins: []string{"*"}, ExposedHeaders: []string{""}}, "ExposedHeaders", `exposed header "" is not an HTTP field name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
			var ce *CORSError
			if err != nil && (!errors.As(err, &ce) || ce.Field != tc.field) {
				t.Errorf("%v is no CORSError of %s: %#v", err, tc.field, ce)
			}
		})
	}
}

// TestCORSOrigins: which Origin headers a policy allows, and what it
// answers them.
func TestCORSOrigins(t *testing.T) {
	p, err := (&CORS{AllowedOrigins: []string{
		"https://app.example.com", "http://localhost:3000", "https://*.example.org", "http://*.dev.example.net:8080", "http://[::1]:5173",
	}}).compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		origin string
		allow  string // "" for not allowed
	}{
		{"https://app.example.com", "https://app.example.com"},
		{"HTTPS://App.Example.COM", "HTTPS://App.Example.COM"},
		{"https://app.example.com:443", "https://app.example.com:443"},
		{"http://app.example.com", ""},
		{"https://app.example.com:8443", ""},
		{"https://app.example.com.attacker.net", ""},
		{"https://evilapp.example.com", ""},
		{"https://example.com", ""},
		{"https://app.example.com/", ""},
		{"null", ""},
		{"", ""},
		{"http://localhost:3000", "http://localhost:3000"},
		{"http://localhost", ""},
		{"http://localhost:3001", ""},
		{"https://a.example.org", "https://a.example.org"},
		{"https://a.b.example.org", "https://a.b.example.org"},
		{"https://example.org", ""},
		{"https://.example.org", ""},
		{"https://a..example.org", ""},
		{"https://*.example.org", ""},
		{"https://evil.example.org.attacker.net", ""},
		{"https://evilexample.org", ""},
		{"http://a.example.org", ""},
		{"https://a.example.org:8443", ""},
		{"http://x.dev.example.net:8080", "http://x.dev.example.net:8080"},
		{"http://x.dev.example.net", ""},
		{"http://dev.example.net:8080", ""},
		{"http://[::1]:5173", "http://[::1]:5173"},
		{"http://[0:0::1]:5173", "http://[0:0::1]:5173"},
		{"http://[::2]:5173", ""},
	} {
		got := p.allowOrigin(tc.origin)
		if (tc.allow == "") != (got == nil) || (got != nil && (len(got) != 1 || got[0] != tc.allow)) {
			t.Errorf("%q: allowed as %q, want %q", tc.origin, got, tc.allow)
		}
	}

	any, err := (&CORS{AllowedOrigins: []string{"*"}, MaxAge: -time.Second}).compile()
	if err != nil {
		t.Fatal(err)
	}
	if got := any.allowOrigin("https://anything.example"); len(got) != 1 || got[0] != "*" {
		t.Errorf("any origin: %q", got)
	}
	if any.maxAge[0] != "0" || p.maxAge[0] != "600" {
		t.Errorf("max ages %q and %q, want 0 and 600", any.maxAge, p.maxAge)
	}
}

// TestCORSAllocations: a request from an allowed origin, as a browser
// writes it, costs no allocation to mark.
func TestCORSAllocations(t *testing.T) {
	p, err := (&CORS{AllowedOrigins: []string{"https://app.example.com"}, AllowCredentials: true}).compile()
	if err != nil {
		t.Fatal(err)
	}
	h := map[string][]string{}
	if n := testing.AllocsPerRun(100, func() { p.actual(h, "https://app.example.com") }); n != 0 {
		t.Errorf("%v allocations a request", n)
	}
}

// FuzzParseOrigin: an Origin header, whatever it holds, parses to an
// origin that serialises to itself again, or to an error; never a panic.
func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "http://[::1]:8080", "HTTP://A.B:80", "null", "https://*.x.y", "a://b:+1", "http://[::1", "https://a:0", "x://:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseOrigin(s, false)
		if err != nil {
			return
		}
		again, err := parseOrigin(o.String(), false)
		if err != nil || again != o {
			t.Fatalf("%q parsed to %q, which parses to %q, %v", s, o.String(), again.String(), err)
		}
		if rest, ok := strings.CutPrefix(o.String(), o.scheme+"://"); !ok || strings.ContainsAny(rest, "/?#@* \t\r\n\x00") {
			t.Fatalf("%q parsed to %q", s, o.String())
		}
	})
}
