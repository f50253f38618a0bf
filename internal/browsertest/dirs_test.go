package browsertest

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/auth"
)

// TestCrossOriginMkcolMove: MKCOL and MOVE are no methods a form could
// send, so a page's fetch() of them is preflighted, with Destination and
// Overwrite among the requested headers; under the default CORS lists a
// page of an allowed origin makes a directory and moves a file into it,
// and one of another origin gets a TypeError and reaches no FTP server.
func TestCrossOriginMkcolMove(t *testing.T) {
	allowed := serveOrigin(t, appPage)
	other := serveOrigin(t, appPage)
	tok, err := auth.NewToken(corsToken, "browser", auth.All, "/")
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, api.Config{
		Tokens: auth.Static(tok),
		CORS:   &api.CORS{AllowedOrigins: []string{allowed}},
	})
	g.ftpd.WriteFile(t, "f.txt", []byte("f"))
	bearer := map[string]string{"Authorization": "Bearer " + corsToken}
	move := map[string]string{"Authorization": "Bearer " + corsToken, "Destination": api.DefaultMount + "made/f.txt", "Overwrite": "F"}
	calls := []string{
		fmt.Sprintf(`call(%s, {method: 'MKCOL', headers: %s})`, js(t, g.url("made/")), js(t, bearer)),
		fmt.Sprintf(`call(%s, {method: 'MOVE', headers: %s})`, js(t, g.url("f.txt")), js(t, move)),
	}

	ctx := newTab(t)
	navigate(t, ctx, other+"/app.html")
	before := len(g.ftpd.Commands())
	for _, c := range calls {
		if got := eval[answer](t, ctx, c); got.Error != "TypeError" {
			t.Errorf("other origin: %+v, want a TypeError", got)
		}
	}
	if cmds := g.ftpd.Commands(); len(cmds) != before {
		t.Errorf("the FTP server had %q from the other origin's requests", cmds[before:])
	}

	ctx = newTab(t)
	navigate(t, ctx, allowed+"/app.html")
	for i, want := range []int{http.StatusCreated, http.StatusCreated} {
		if got := eval[answer](t, ctx, calls[i]); got.Status != want {
			t.Errorf("call %d: status %d (error %q), want %d", i, got.Status, got.Error, want)
		}
	}
	if b, err := os.ReadFile(g.ftpd.Path("made/f.txt")); err != nil || string(b) != "f" {
		t.Errorf("made/f.txt: %q, %v", b, err)
	}
	log := g.requestLog()
	for _, r := range []string{"OPTIONS " + api.DefaultMount + "made/ " + allowed, "OPTIONS " + api.DefaultMount + "f.txt " + allowed,
		"MKCOL " + api.DefaultMount + "made/ " + allowed, "MOVE " + api.DefaultMount + "f.txt " + allowed} {
		if !slices.Contains(log, r) {
			t.Errorf("no %q; the gateway had %q", r, log)
		}
	}
}
