package ftpcore

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// TestTransferProgress: OnProgress sees every byte a download delivers,
// through Read and through WriteTo's splice to a TCP socket, where it is
// called once per chunk, not per byte.
func TestTransferProgress(t *testing.T) {
	const size = 3<<20 + 12345
	data := testData(size)
	s := ftptest.NewServer(t)
	s.PutFile("/f", data, time.Now())
	c := dialTest(t, s)

	t.Run("Read", func(t *testing.T) {
		var sum int64
		calls := 0
		tr, err := c.Retr(testCtx(t), "/f", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		tr.OnProgress(func(n int64) { sum += n; calls++ })
		got, err := io.ReadAll(struct{ io.Reader }{tr}) // Read, not WriteTo
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		if sum != size || calls == 0 {
			t.Errorf("OnProgress: %d calls, %d bytes; want %d bytes", calls, sum, size)
		}
	})

	t.Run("WriteTo a TCP socket", func(t *testing.T) {
		// The bytes go to an HTTP client through a real socket, as in the
		// gateway, so io.Copy reaches the socket's ReadFrom.
		var sum int64
		calls := 0
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tr, err := c.Retr(r.Context(), "/f", 0, -1)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			tr.OnProgress(func(n int64) { sum += n; calls++ })
			tr.WriteTo(w)
			tr.Close()
		}))
		defer ts.Close()
		resp, err := http.Get(ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		ts.Close() // the handler has returned
		if sum != size {
			t.Errorf("OnProgress saw %d bytes, want %d", sum, size)
		}
		if max := size/transferChunk + 2; calls > max {
			t.Errorf("OnProgress called %d times for %d bytes, want at most %d (per chunk)", calls, size, max)
		}
	})
}

// TestUploadProgress: OnProgress sees every byte an upload writes.
func TestUploadProgress(t *testing.T) {
	data := testData(1<<20 + 7)
	s := ftptest.NewServer(t)
	c := dialTest(t, s)
	u, err := c.Stor(testCtx(t), "/up", 0)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	u.OnProgress(func(n int64) { sum += n })
	if _, err := u.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if sum != int64(len(data)) {
		t.Errorf("OnProgress saw %d bytes, want %d", sum, len(data))
	}
	if got, _ := s.File("/up"); !bytes.Equal(got, data) {
		t.Errorf("stored %d bytes", len(got))
	}
}
