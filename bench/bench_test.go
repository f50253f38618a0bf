package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSumMetric(t *testing.T) {
	exp := []byte(`# HELP ftpgw_pool_dials_total FTP sessions dialled, successful or not.
# TYPE ftpgw_pool_dials_total counter
ftpgw_pool_dials_total{backend="a"} 12
ftpgw_pool_dials_total{backend="b"} 4
ftpgw_pool_dials_total_other 100
ftpgw_pool_dial_errors_total{backend="a"} 3
`)
	got, err := sumMetric(exp, "ftpgw_pool_dials_total")
	if err != nil || got != 16 {
		t.Errorf("sumMetric = %v, %v; want 16", got, err)
	}
	if _, err := sumMetric(exp, "ftpgw_missing_total"); err == nil {
		t.Error("sumMetric of a missing metric: no error")
	}
	// A series without labels, as the Go collector's.
	exp = []byte("# TYPE go_goroutines gauge\ngo_goroutines 24\ngo_goroutines_other 3\n")
	if got, err := sumMetric(exp, "go_goroutines"); err != nil || got != 24 {
		t.Errorf("sumMetric of a series without labels = %v, %v; want 24", got, err)
	}
}

func TestParseProc(t *testing.T) {
	stat := "4242 (gate way) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 8 0 100 0 0"
	if got, err := parseCPU(stat); err != nil || got != 3.25 {
		t.Errorf("parseCPU = %v, %v; want 3.25", got, err)
	}
	status := "Name:\tgateway\nVmPeak:\t 1300000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n"
	if got, err := parseStatus(status, "VmHWM"); err != nil || got != 20480 {
		t.Errorf("VmHWM = %v, %v", got, err)
	}
	if got, err := parseStatus(status, "VmRSS"); err != nil || got != 10240 {
		t.Errorf("VmRSS = %v, %v", got, err)
	}
}

func TestReadStrace(t *testing.T) {
	trace := `101 read(3, ""..., 4096) = 120
102 splice(7, NULL, 9, NULL, 1048576, SPLICE_F_NONBLOCK <unfinished ...>
101 write(5, ""..., 80) = 80
102 <... splice resumed>) = 65536
102 splice(9, NULL, 8, NULL, 65536, SPLICE_F_NONBLOCK) = 65536
102 splice(7, NULL, 9, NULL, 1048576, SPLICE_F_NONBLOCK) = -1 EAGAIN (Resource temporarily unavailable)
101 read(3, ""..., 4096) = -1 EAGAIN (Resource temporarily unavailable)
102 +++ exited with 0 +++
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 90.00    0.000900         300         3         1 splice
 10.00    0.000100          33         2         1 read
  0.00    0.000000           0         1           write
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000         166         6         2 total
`
	path := filepath.Join(t.TempDir(), "trace")
	if err := os.WriteFile(path, []byte(trace), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readStrace(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]syscallStat{
		"splice": {calls: 3, errors: 1, bytes: 131072},
		"read":   {calls: 2, errors: 1, bytes: 120},
		"write":  {calls: 1, bytes: 80},
	}
	for name, w := range want {
		if got.calls[name] != w {
			t.Errorf("%s: %+v, want %+v", name, got.calls[name], w)
		}
	}
}

func TestStats(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	var r loadResult
	for i := 1; i <= 100; i++ {
		r.lat = append(r.lat, time.Duration(i))
	}
	if p := r.percentile(50); p != 50 {
		t.Errorf("p50 = %v", p)
	}
	if p := r.percentile(99); p != 99 {
		t.Errorf("p99 = %v", p)
	}
	if p := r.percentile(100); p != 100 {
		t.Errorf("p100 = %v", p)
	}
}

func TestAppendResults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if err := appendResults(path, "## Results one\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	// A note written by hand under the first results stays.
	if err := os.WriteFile(path, append(b, "\nA note.\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := appendResults(path, "## Results two\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	got := string(b)
	if !strings.HasPrefix(got, header) || strings.Count(got, resultsMarker) != 1 {
		t.Errorf("header or marker wrong:\n%s", got)
	}
	one, note, two := strings.Index(got, "## Results one"), strings.Index(got, "A note."), strings.Index(got, "## Results two")
	if one < 0 || !(one < note && note < two) {
		t.Errorf("sections out of order:\n%s", got)
	}
}
