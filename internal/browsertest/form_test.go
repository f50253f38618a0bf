package browsertest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ftpgw/ftpgw/api"
)

// TestListingFormUpload: in Chromium, a person on the HTML listing
// chooses two files in its upload form and submits it: the browser posts
// the form, follows the 303 back to the listing, which now lists them,
// and the FTP server has their bytes. The same form on another site's
// page, posting to the gateway, stores nothing (the browser says where
// the post came from: Origin, Sec-Fetch-Site).
func TestListingFormUpload(t *testing.T) {
	g := startGateway(t, api.Config{})
	g.ftpd.WriteFile(t, "in/keep.txt", []byte("keep"))
	dir := t.TempDir()
	files := map[string]string{"one.txt": "the first file\n", "two words.txt": strings.Repeat("second ", 1000)}
	var paths []string
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}

	ctx := newTab(t)
	navigate(t, ctx, g.url("in/"))
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(`input[type=file][name=file]`, paths)); err != nil {
		t.Fatalf("choosing the files: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`form button[type=submit]`)); err != nil {
		t.Fatalf("submitting the form: %v", err)
	}
	// Wait for the listing the 303 leads back to, with the new files.
	deadline := time.Now().Add(10 * time.Second)
	for {
		text := eval[string](t, ctx, `document.location.href + "\n" + document.body.innerText`)
		if strings.HasPrefix(text, g.url("in/")+"\n") && strings.Contains(text, "one.txt") && strings.Contains(text, "two words.txt") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the form the tab shows:\n%s", text)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for name, want := range files {
		if got, err := os.ReadFile(g.ftpd.Path("in/" + name)); err != nil || string(got) != want {
			t.Errorf("in/%s on the FTP server: %d bytes (%v), want the %d chosen", name, len(got), err, len(want))
		}
	}

	// Another site's page with a form that posts to the gateway, sent
	// by itself when the page loads.
	evil := serveOrigin(t, `<!DOCTYPE html><form id=f method=post enctype="multipart/form-data" action="`+g.url("in/")+`">`+
		`<input type=hidden name=note value=x></form><script>
const dt = new DataTransfer();
dt.items.add(new File(["planted"], "planted.txt"));
const input = document.createElement("input");
input.type = "file"; input.name = "file"; input.files = dt.files;
document.getElementById("f").appendChild(input);
document.getElementById("f").submit();
</script>`)
	navigate(t, ctx, evil)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(strings.Join(g.requestLog(), "\n"), "POST /files/in/ "+evil) {
		if time.Now().After(deadline) {
			t.Fatalf("the other site's form never reached the gateway: %q", g.requestLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(g.ftpd.Path("in/planted.txt")); err == nil {
		t.Error("another site's form stored planted.txt")
	}
	if got, _ := os.ReadFile(g.ftpd.Path("in/keep.txt")); string(got) != "keep" {
		t.Errorf("in/keep.txt is %q", got)
	}
}
