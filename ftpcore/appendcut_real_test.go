package ftpcore

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// TestRealAppendCutKeepsPrefix pins down what a resumable upload (the
// api's resumable.go) stands on, on every server of the matrix: an APPE
// aborted mid-body leaves the file holding what it held plus a prefix of
// the bytes sent, SIZE (binary) is that file's length on disk, and an APPE
// of the rest from there makes the whole. Observed: vsftpd, pure-ftpd and
// proftpd, plain and FTPS, all keep what they had read off the data
// connection before the ABOR (anywhere from none to all of what the
// kernel's buffers passed on), and none truncates or pads.
func TestRealAppendCutKeepsPrefix(t *testing.T) {
	for _, kind := range realftpd.Matrix {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := realftpd.Start(t, kind)
			base := []byte("already there\n")
			s.WriteFile(t, "part.bin", base)
			data := make([]byte, 4<<20)
			rand.NewChaCha8([32]byte{9}).Read(data)
			var log traceLog
			c := dialAbortReal(t, s, &log)
			defer func() {
				if t.Failed() {
					t.Logf("trace:\n%s", log.String())
				}
			}()

			u, err := c.Appe(testCtx(t), "part.bin")
			if err != nil {
				t.Fatal(err)
			}
			sent := 3 << 20
			if _, err := u.Write(data[:sent]); err != nil {
				t.Fatal(err)
			}
			u.Abort(errors.New("the client went away"))
			if !c.Usable() {
				c = dialAbortReal(t, s, &log)
			}
			size, err := c.Size(testCtx(t), "part.bin")
			if err != nil {
				t.Fatal(err)
			}
			disk, err := os.ReadFile(s.Path("part.bin"))
			if err != nil {
				t.Fatal(err)
			}
			kept := len(disk) - len(base)
			t.Logf("%s kept %d of the %d bytes sent before the ABOR", kind, kept, sent)
			switch {
			case size != int64(len(disk)):
				t.Fatalf("SIZE %d, %d bytes on disk", size, len(disk))
			case kept < 0 || kept > sent || !bytes.Equal(disk, append(append([]byte{}, base...), data[:kept]...)):
				t.Fatalf("the file is not what it held plus a prefix of what was sent (%d bytes, %d kept)", len(disk), kept)
			}

			u, err = c.Appe(testCtx(t), "part.bin")
			if err != nil {
				t.Fatal(err)
			}
			upload(t, u, string(data[kept:]))
			wantFile(t, s, "part.bin", string(base)+string(data))
		})
	}
}
