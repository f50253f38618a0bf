package ftpcore

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// TestArmReal: on every server of the matrix, a transfer on an armed Conn
// sends no passive command of its own and uses the connection dialled
// ahead: a RETR from an offset, a LocateRetr, a listing and an upload, each
// right, each after an Arm whose reply was read while the Conn was idle;
// commands between the Arm and the transfer (SIZE, CWD, PWD) do not undo
// it.
func TestArmReal(t *testing.T) {
	for _, kind := range realftpd.Matrix {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := realftpd.Start(t, kind)
			data := bytes.Repeat([]byte("0123456789"), 100000)
			if err := os.WriteFile(s.Path("f.bin"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			log := &traceLog{}
			c := dialAbortReal(t, s, log)
			dir := strings.TrimSuffix(s.LoginPath, "/")
			ctx := testCtx(t)
			arm := func() {
				t.Helper()
				if err := c.Arm(ctx); err != nil || !c.Armed() {
					t.Fatalf("Arm: %v, armed %v", err, c.Armed())
				}
			}
			// The sends of the transfer's write: no EPSV, no PASV.
			noPassive := func(what string, from int) {
				t.Helper()
				for _, l := range strings.Split(log.String()[from:], "\n") {
					if strings.Contains(l, `line=EPSV`) || strings.Contains(l, `line=PASV`) {
						t.Fatalf("%s on an armed Conn sent %s", what, l)
					}
				}
			}

			arm()
			if _, err := c.Size(ctx, dir+"/f.bin"); err != nil {
				t.Fatal(err)
			}
			from := len(log.String())
			tr, err := c.Retr(ctx, dir+"/f.bin", 5, -1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(tr)
			if err != nil || !bytes.Equal(got, data[5:]) || tr.Close() != nil {
				t.Fatalf("RETR: %d bytes, %v", len(got), err)
			}
			noPassive("RETR", from)

			arm()
			from = len(log.String())
			loc, tr, err := c.LocateRetr(ctx, dir+"/f.bin", nil, 0, 100)
			if err != nil || tr == nil || loc.Entry.Size != int64(len(data)) {
				t.Fatalf("LocateRetr: %+v %v %v", loc, tr, err)
			}
			got, err = io.ReadAll(tr)
			if err != nil || !bytes.Equal(got, data[:100]) || tr.Close() != nil {
				t.Fatalf("LocateRetr: %q, %v", got, err)
			}
			noPassive("LocateRetr", from)

			arm()
			from = len(log.String())
			up, err := c.Stor(ctx, dir+"/up.bin", 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := up.Write(data[:1000]); err != nil {
				t.Fatal(err)
			}
			if err := up.Close(); err != nil {
				t.Fatal(err)
			}
			noPassive("STOR", from)
			if b, _ := os.ReadFile(s.Path("up.bin")); !bytes.Equal(b, data[:1000]) {
				t.Fatalf("up.bin: %d bytes", len(b))
			}

			arm()
			from = len(log.String())
			es, err := c.List(ctx, dir+"/")
			if err != nil || len(es) < 2 {
				t.Fatalf("List: %v %v", es, err)
			}
			noPassive("List", from)

			// Disarmed by Close: the armed connection goes with it.
			arm()
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
