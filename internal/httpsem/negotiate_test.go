package httpsem

import (
	"strings"
	"testing"
)

func TestPrefersHTML(t *testing.T) {
	tests := []struct {
		name   string
		accept string
		want   bool
	}{
		{"absent", "", false},
		{"whitespace", "  ", false},
		{"browser", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true},
		{"firefox with avif", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", true},
		{"curl", "*/*", false},
		{"json", "application/json", false},
		{"html only", "text/html", true},
		{"html case", "Text/HTML", true},
		{"html with charset", "text/html; charset=utf-8", true},
		{"json preferred", "text/html;q=0.5, application/json", false},
		{"html preferred", "text/html, application/json;q=0.9", true},
		{"tie", "text/html, application/json", false},
		{"tie by wildcard", "text/*, application/*", false},
		{"text wildcard beats star", "text/*, */*;q=0.5", true},
		{"application wildcard", "application/*, text/html;q=0.9", false},
		{"specific beats wildcard", "text/*;q=0.1, text/html;q=0.9, */*;q=0.5", true},
		{"specific q0 beats wildcard", "text/html;q=0, */*", false},
		{"json q0 leaves html", "application/json;q=0, */*;q=0.1", true},
		{"everything q0", "*/*;q=0", false},
		{"html q0 only", "text/html;q=0", false},
		{"unrelated types", "image/png, text/plain", false},
		{"xhtml is not html", "application/xhtml+xml", false},
		{"q with OWS", "text/html ; q=0.4 , application/json ; q=0.3", true},
		{"q uppercase name", "text/html;Q=0.2, application/json;q=0.3", false},
		{"q three decimals", "text/html;q=0.501, application/json;q=0.5", true},
		{"q one", "text/html;q=1.000, application/json;q=0.999", true},
		{"invalid q skipped", "text/html;q=2, application/json;q=0.1", false},
		{"q too precise skipped", "text/html;q=0.1234", false},
		{"q over one skipped", "text/html;q=1.001", false},
		{"q negative skipped", "text/html;q=-1", false},
		{"q empty skipped", "text/html;q=", false},
		{"invalid element skipped", "text, text/html", true},
		{"star subtype of concrete type invalid", "*/html", false},
		{"duplicate takes higher", "text/html;q=0.1, text/html;q=0.9, application/json;q=0.5", true},
		{"params before q", "text/html;level=1;q=0.9, application/json;q=0.8", true},
		{"empty elements", ",,text/html,,", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PrefersHTML(tt.accept); got != tt.want {
				t.Errorf("PrefersHTML(%q) = %v, want %v", tt.accept, got, tt.want)
			}
		})
	}
}

func TestWantsJSON(t *testing.T) {
	for _, tt := range []struct {
		name   string
		accept string
		want   bool
	}{
		{"absent", "", false},
		{"curl, wget, fetch, requests", "*/*", false},
		{"browser", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false},
		{"json", "application/json", true},
		{"json case", "Application/JSON", true},
		{"json with charset", "application/json; charset=utf-8", true},
		{"json named beside the wildcard", "application/json, */*", true},
		{"json named beside a lighter wildcard", "application/json, */*;q=0.1", true},
		{"application wildcard beside star", "application/*, */*;q=0.5", true},
		{"tie named", "text/html, application/json", false},
		{"tie by wildcards", "text/*, application/*", false},
		{"json preferred", "text/html;q=0.5, application/json", true},
		{"html preferred", "text/html, application/json;q=0.9", false},
		{"json q0", "application/json;q=0, */*", false},
		{"html q0", "text/html;q=0, */*", true},
		{"html q0 after the wildcard", "*/*, text/html;q=0", true},
		{"everything q0", "*/*;q=0", false},
		{"json q0 only", "application/json;q=0", false},
		{"unrelated types", "image/png, text/plain", false},
		{"invalid q skipped", "application/json;q=2", false},
		{"empty elements", ",,application/json,,", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := WantsJSON(tt.accept); got != tt.want {
				t.Errorf("WantsJSON(%q) = %v, want %v", tt.accept, got, tt.want)
			}
		})
	}
}

func FuzzWantsJSON(f *testing.F) {
	for _, s := range []string{
		"", "*/*", "text/html", "application/json", "application/json, */*",
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"text/*;q=0.3, application/*;q=0.2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		got := WantsJSON(accept)
		// Empty elements never change the answer (RFC 9110 §5.6.1).
		if again := WantsJSON("," + accept + ","); again != got {
			t.Fatalf("WantsJSON(%q) = %v but with empty elements %v", accept, got, again)
		}
		// Naming application/json at full weight never takes JSON away.
		if got && !WantsJSON(accept+",application/json") {
			t.Fatalf("WantsJSON(%q) = true, but false with application/json added", accept)
		}
		// JSON is never chosen by a header that names neither it nor a
		// wildcard that covers it ("*/*, text/html;q=0" does choose it).
		lower := strings.ToLower(accept)
		if got && !strings.Contains(lower, "json") && !strings.Contains(lower, "/*") {
			t.Fatalf("WantsJSON(%q) = true without any range naming json", accept)
		}
	})
}

func TestParseQValue(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true},
		{"1", 1000, true},
		{"0.", 0, true},
		{"1.", 1000, true},
		{"0.5", 500, true},
		{"0.25", 250, true},
		{"0.125", 125, true},
		{"1.000", 1000, true},
		{"1.001", 0, false},
		{"0.1234", 0, false},
		{"2", 0, false},
		{".5", 0, false},
		{"0,5", 0, false},
		{"", 0, false},
		{"0.a", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseQValue(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseQValue(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzPrefersHTML(f *testing.F) {
	for _, s := range []string{
		"", "*/*", "text/html", "application/json",
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"text/*;q=0.3, application/*;q=0.2", "text/html;q=1.000;level=1", "*/html",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		got := PrefersHTML(accept)
		// Empty elements never change the answer (RFC 9110 §5.6.1).
		if again := PrefersHTML("," + accept + ","); again != got {
			t.Fatalf("PrefersHTML(%q) = %v but with empty elements %v", accept, got, again)
		}
		// Adding application/json at full weight can only make JSON win.
		if PrefersHTML(accept + ",application/json") {
			t.Fatalf("PrefersHTML(%q + \",application/json\") = true", accept)
		}
		if !strings.Contains(strings.ToLower(accept), "html") && !strings.Contains(accept, "*") && got {
			t.Fatalf("PrefersHTML(%q) = true without any range naming html", accept)
		}
	})
}

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"x-gzip", true},
		{"gzip, deflate, br", true},
		{"br;q=1, gzip;q=0.5", true},
		{"gzip;q=0", false},
		{"gzip;q=0.000", false},
		{"gzip;q=0, *", false},
		{"*", true},
		{"*;q=0", false},
		{"identity", false},
		{"br", false},
		{"gzip;q=2", false},
		{"gzip;q=0.001", true},
		{"deflate, gzip ; q=0.8", true},
	} {
		if got := AcceptsGzip(tc.header); got != tc.want {
			t.Errorf("AcceptsGzip(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"", "gzip", "gzip;q=0, *", "br;q=1, gzip;q=0.5", "*;q=0", "x-gzip;q=0.001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got := AcceptsGzip(header)
		// Empty elements never change the answer (RFC 9110 §5.6.1).
		if again := AcceptsGzip("," + header + ","); again != got {
			t.Fatalf("AcceptsGzip(%q) = %v but with empty elements %v", header, got, again)
		}
		// gzip refused outright is refused, whatever else is there.
		if AcceptsGzip(header+",gzip;q=0") && !strings.Contains(strings.ToLower(header), "gzip") {
			t.Fatalf("AcceptsGzip(%q + \",gzip;q=0\") = true", header)
		}
		if got && !strings.Contains(strings.ToLower(header), "gzip") && !strings.Contains(header, "*") {
			t.Fatalf("AcceptsGzip(%q) = true without gzip or *", header)
		}
	})
}
