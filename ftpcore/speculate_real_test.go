package ftpcore

import (
	"io"
	"os"
	"testing"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// TestLocateRetrReal: on every server, LocateRetr of a file starts its
// transfer in the write of the look, and the transfer read whole brings
// the file; a speculative transfer given up unread (Discard), twenty
// times over, leaves the Conn usable each time, a tiny file included,
// which pure-ftpd sends so fast that a reset at once would find it
// before its first write (and answer nothing).
func TestLocateRetrReal(t *testing.T) {
	for _, kind := range abortKinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := realftpd.Start(t, kind)
			for name, data := range map[string]string{"tiny.txt": "secret\n", "big.bin": string(make([]byte, 4<<20))} {
				if err := os.WriteFile(s.Path(name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			log := &traceLog{}
			c := dialAbortReal(t, s, log)
			dir := s.LoginPath
			if dir == "/" {
				dir = ""
			}
			for _, name := range []string{"tiny.txt", "big.bin"} {
				for i := range 20 {
					loc, tr, err := c.LocateRetr(testCtx(t), dir+"/"+name, nil, 0, -1)
					if err != nil || tr == nil || loc.Entry.Type != EntryFile {
						t.Fatalf("%s %d: %+v %v %v\n%s", name, i, loc, tr, err, log.String())
					}
					if err := tr.Discard(); err != nil || !c.Usable() {
						t.Fatalf("%s %d: Discard: %v\n%s", name, i, err, log.String())
					}
				}
			}
			loc, tr, err := c.LocateRetr(testCtx(t), dir+"/tiny.txt", nil, 2, -1)
			if err != nil || tr == nil {
				t.Fatalf("%+v %v %v", loc, tr, err)
			}
			got, err := io.ReadAll(tr)
			if err != nil || string(got) != "cret\n" {
				t.Fatalf("read %q, %v", got, err)
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			// A directory: no transfer, the look says what it is.
			loc, tr, err = c.LocateRetr(testCtx(t), dir+"/", nil, 0, -1)
			if err != nil || tr != nil || loc.Entry.Type != EntryDir {
				t.Fatalf("a directory: %+v %v %v", loc, tr, err)
			}
			if _, err := c.Size(testCtx(t), dir+"/tiny.txt"); err != nil {
				t.Fatalf("the Conn after: %v", err)
			}
		})
	}
}
