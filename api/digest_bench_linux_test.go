package api_test

import (
	"bytes"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// BenchmarkPut is a 16 MiB PUT through the gateway on vsftpd: as it is
// (the gateway computes the body's SHA-256 for its Repr-Digest), with a
// Content-Digest to check, and answered with SHA-512, which then is
// computed too. Besides the rate, which a loaded machine moves a lot, it
// reports the CPU time the test process (client and gateway) spent per
// MiB, which it moves less.
//
//	FTPGW_REQUIRE_REAL_SERVERS=1 go test -run '^$' -bench 'Put$' -count 5 ./api/
func BenchmarkPut(b *testing.B) {
	body := randomBytes(16<<20, 5)
	for _, bc := range []struct {
		name string
		hdr  []string
	}{
		{"plain", nil},
		{"content-digest", []string{"Content-Digest", sha256Field(body)}},
		{"want-sha-512", []string{"Want-Repr-Digest", "sha-512=1"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := startGatewayOn(b, realftpd.Vsftpd)
			client := g.http.Client()
			put := func() {
				req, err := http.NewRequest(http.MethodPut, g.url("/files/p.bin"), bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				for i := 0; i+1 < len(bc.hdr); i += 2 {
					req.Header.Set(bc.hdr[i], bc.hdr[i+1])
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
					b.Fatalf("PUT: %d", resp.StatusCode)
				}
			}
			put() // warm
			b.SetBytes(int64(len(body)))
			before := cpuTime(b)
			n := 0
			for b.Loop() {
				put()
				n++
			}
			b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/1000/float64(n*16), "cpu-ms/MiB")
		})
	}
}

// cpuTime is the CPU time, user and system, the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
