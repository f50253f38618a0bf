package httpsem

import (
	"mime"
	"net/url"
	"strings"
	"testing"
)

func TestAttachmentDisposition(t *testing.T) {
	tests := []struct{ name, want string }{
		{"report.html", `attachment; filename="report.html"`},
		{"a b.svg", `attachment; filename="a b.svg"`},
		{"semi;colon,=.xml", `attachment; filename="semi;colon,=.xml"`},
		{"", `attachment; filename="download"`},
		{`say "hi".html`, `attachment; filename="say _hi_.html"; filename*=UTF-8''say%20%22hi%22.html`},
		{`back\slash.js`, `attachment; filename="back_slash.js"; filename*=UTF-8''back%5Cslash.js`},
		{"100%.html", `attachment; filename="100_.html"; filename*=UTF-8''100%25.html`},
		{"café.html", `attachment; filename="caf_.html"; filename*=UTF-8''caf%C3%A9.html`},
		{"日本.svg", `attachment; filename="__.svg"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.svg`},
		{"tab\there\r\n.html", `attachment; filename="tab_here__.html"; filename*=UTF-8''tab%09here%0D%0A.html`},
		{"del\x7f.xml", `attachment; filename="del_.xml"; filename*=UTF-8''del%7F.xml`},
		{"bad\xffutf8", `attachment; filename="bad_utf8"; filename*=UTF-8''bad%FFutf8`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AttachmentDisposition(tt.name); got != tt.want {
				t.Errorf("AttachmentDisposition(%q)\n got %s\nwant %s", tt.name, got, tt.want)
			}
		})
	}
}

func FuzzAttachmentDisposition(f *testing.F) {
	for _, s := range []string{"", "a.html", `"`, `\`, "%", "é", "\x00", "\xff", "a;b=c", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		v := AttachmentDisposition(name)
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] >= 0x7f {
				t.Fatalf("byte %#x in %q", v[i], v)
			}
		}
		// A parser of the field (mime's, as user agents parse it) finds
		// the attachment and a filename, and the name itself where the
		// name is valid UTF-8 (filename* then holds it).
		disp, params, err := mime.ParseMediaType(v)
		if err != nil || disp != "attachment" || params["filename"] == "" {
			t.Fatalf("%q parses as %q %v %v", v, disp, params, err)
		}
		fallback, ext, hasExt := strings.Cut(v, "; filename*=UTF-8''")
		if strings.ContainsAny(strings.TrimSuffix(strings.TrimPrefix(fallback, `attachment; filename="`), `"`), "\"\\%") {
			t.Fatalf("fallback %s carries a quote, backslash or percent", fallback)
		}
		if !hasExt {
			if name != "" && params["filename"] != name {
				t.Fatalf("%q: the fallback alone %q is not the name", name, params["filename"])
			}
			return
		}
		if got, err := url.PathUnescape(ext); err != nil || got != name {
			t.Fatalf("filename* %q decodes to %q, %v; want %q", ext, got, err, name)
		}
	})
}
