package api_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
)

// formBody is a multipart/form-data body with the files (name, content
// pairs) in the field "file", and a field that is no file; it returns the
// body and its Content-Type.
func formBody(t *testing.T, files ...string) (*bytes.Buffer, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("note", "a field that is no file")
	for i := 0; i+1 < len(files); i += 2 {
		fw, err := mw.CreateFormFile("file", files[i])
		if err != nil {
			t.Fatal(err)
		}
		fw.Write([]byte(files[i+1]))
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

// TestFormUpload: the HTML listing has an upload form where the caller may
// write, and its POST stores each file in the directory, create-only, and
// answers 303 to the listing; a POST from another site's page, a name that
// is a path, a form without a file, or a form posted to a file's URL are
// refused with nothing stored. On every server, with a token that may
// write, and one that may only read (no form, 403).
func TestFormUpload(t *testing.T) {
	forEachServerWith(t, gatewayOptions{tokens: authTokens(t)}, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "up/old.txt", []byte("old"))
		writer := []string{"Authorization", "Bearer " + tokAll}
		reader := []string{"Authorization", "Bearer " + tokReader}

		code, h, page := g.fetch(t, http.MethodGet, "/files/up/", nil, append([]string{"Accept", "text/html"}, writer...)...)
		if code != 200 || !strings.Contains(string(page), `<form method="post" enctype="multipart/form-data" action="./">`) {
			t.Fatalf("listing for a writer: %d, no upload form: %s", code, page)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") {
			t.Errorf("listing CSP %q lets the form post nowhere", csp)
		}
		if _, _, page := g.fetch(t, http.MethodGet, "/files/up/", nil, append([]string{"Accept", "text/html"}, reader...)...); strings.Contains(string(page), "<form") {
			t.Errorf("the listing shows a reader the upload form")
		}

		post := func(p string, hdr []string, files ...string) (int, http.Header, []byte) {
			t.Helper()
			body, ctype := formBody(t, files...)
			return corsFetch(t, http.MethodPost, g.url(p), body, append([]string{"Content-Type", ctype}, hdr...)...)
		}
		code, h, b := post("/files/up/", append([]string{"Origin", g.http.URL, "Sec-Fetch-Site", "same-origin"}, writer...),
			"a.txt", "first file", "naïve name with spaces.txt", "second file")
		if code != http.StatusSeeOther || h.Get("Location") != "/files/up/" {
			t.Fatalf("form upload: %d, Location %q %s; want 303 to the listing", code, h.Get("Location"), b)
		}
		for name, want := range map[string]string{"a.txt": "first file", "naïve name with spaces.txt": "second file", "old.txt": "old"} {
			if got, err := os.ReadFile(g.ftpd.Path("up/" + name)); err != nil || string(got) != want {
				t.Errorf("up/%s: %q %v, want %q", name, got, err, want)
			}
		}

		for _, tc := range []struct {
			name  string
			path  string
			hdr   []string
			files []string
			code  int
		}{
			{"a name that exists", "/files/up/", writer, []string{"old.txt", "new"}, http.StatusPreconditionFailed},
			{"another site's page, by Origin", "/files/up/", append([]string{"Origin", "http://evil.example"}, writer...), []string{"x.txt", "x"}, http.StatusForbidden},
			{"another site's page, by Sec-Fetch-Site", "/files/up/", append([]string{"Sec-Fetch-Site", "cross-site"}, writer...), []string{"x.txt", "x"}, http.StatusForbidden},
			{"a reader", "/files/up/", reader, []string{"x.txt", "x"}, http.StatusForbidden},
			{"no token", "/files/up/", nil, []string{"x.txt", "x"}, http.StatusUnauthorized},
			{"a name with a backslash", "/files/up/", writer, []string{`sub\x.txt`, "x"}, http.StatusBadRequest},
			{"a name with a control character", "/files/up/", writer, []string{"x\x01.txt", "x"}, http.StatusBadRequest},
			{"a name of a temporary file", "/files/up/", writer, []string{".ftpgw-upload-x", "x"}, http.StatusBadRequest},
			{"no file", "/files/up/", writer, nil, http.StatusBadRequest},
			{"a file's URL", "/files/up/a.txt", writer, []string{"x.txt", "x"}, http.StatusBadRequest},
		} {
			if code, _, b := post(tc.path, tc.hdr, tc.files...); code != tc.code {
				t.Errorf("%s: %d %s, want %d", tc.name, code, b, tc.code)
			}
		}
		if got, _ := os.ReadFile(g.ftpd.Path("up/old.txt")); string(got) != "old" {
			t.Errorf("up/old.txt is %q after the refused forms", got)
		}
		// A name that is a path keeps only its last segment (as
		// mime/multipart reads it, and as browsers send it): stored in
		// the directory, never above it nor below.
		if code, h, b := post("/files/up/", writer, "../climb.txt", "c", "sub/deep.txt", "d"); code != http.StatusSeeOther {
			t.Errorf("a form whose names are paths: %d %v %s, want 303", code, h, b)
		}
		for name, want := range map[string]string{"up/climb.txt": "c", "up/deep.txt": "d"} {
			if got, err := os.ReadFile(g.ftpd.Path(name)); err != nil || string(got) != want {
				t.Errorf("%s: %q %v, want %q", name, got, err, want)
			}
		}
		for _, p := range []string{"up/x.txt", "x.txt", "up/sub", "climb.txt", "sub"} {
			if _, err := os.Stat(g.ftpd.Path(p)); err == nil {
				t.Errorf("a refused form made %s", p)
			}
		}
		if left := tempFilesUnder(t, g.ftpd.Path("")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}
