package api_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/ftpgw/ftpgw/pool"
	"github.com/prometheus/client_golang/prometheus"
)

// TestTransferBytesGrowDuringDownload: the transferred-bytes counter is
// counted between spliced chunks, so it grows while a long download runs
// rather than jumping at its end. The fake server sends 3 MiB at 128 KiB
// per 50 ms (1.2 s); once the client holds 1.5 MiB, the first 1 MiB chunk
// has been counted and the download is far from its end.
func TestTransferBytesGrowDuringDownload(t *testing.T) {
	const size = 3 << 20
	data := randomBytes(size, 7)
	srv := ftptest.NewServer(t, ftptest.WithSlowData(128<<10, 50*time.Millisecond))
	srv.PutFile("/big", data, time.Now())
	reg := prometheus.NewRegistry()
	ts := fakeGatewayMetrics(t, srv, func(c *pool.Config) {
		c.MaxSessions = 1
		c.Conn.CommandTimeout, c.Conn.DataTimeout = 5*time.Second, 5*time.Second
	}, reg)
	counted := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "ftpgw_transfer_bytes_total" {
				for _, m := range mf.GetMetric() {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}

	resp, err := testClient.Get(ts.URL + "/files/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make([]byte, size)
	if _, err := io.ReadFull(resp.Body, got[:size/2]); err != nil {
		t.Fatal(err)
	}
	mid := counted()
	if mid < 1<<20 || mid >= size {
		t.Errorf("with half of the body received, ftpgw_transfer_bytes_total = %.0f; want at least 1 MiB and less than %d", mid, size)
	}
	if _, err := io.ReadFull(resp.Body, got[size/2:]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("body differs")
	}
	// The handler counts the last chunk before it returns; the response
	// may end a moment earlier on the client's side.
	deadline := time.Now().Add(5 * time.Second)
	for counted() != size && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if end := counted(); end != size {
		t.Errorf("after the download, ftpgw_transfer_bytes_total = %.0f, want %d", end, size)
	}
}
