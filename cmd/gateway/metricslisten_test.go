package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMetricsListen: with --metrics-listen, /metrics is served on that
// address and nowhere else: the HTTP listener answers it 404 (so an
// ingress routing that port does not publish it), the metrics listener
// serves nothing but /metrics, and its exposition counts what the HTTP
// listener served.
func TestMetricsListen(t *testing.T) {
	cfg, err := loadConfig([]string{"--demo", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--drain-pause", "0s"}, envFrom(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	listening, metricsListening := make(chan net.Addr, 1), make(chan net.Addr, 1)
	cfg.onListening = func(a net.Addr) { listening <- a }
	cfg.onMetricsListening = func(a net.Addr) { metricsListening <- a }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v", err)
		}
	}()
	var base, metrics string
	for base == "" || metrics == "" {
		select {
		case a := <-listening:
			base = "http://" + a.String()
			registerContract(t, base, cfg)
		case a := <-metricsListening:
			metrics = "http://" + a.String()
		case err := <-done:
			t.Fatalf("run returned: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("not listening after 10s")
		}
	}

	httpDo(t, http.MethodGet, base+"/files/hello.txt", nil, nil, http.StatusOK)
	httpDo(t, http.MethodGet, base+"/metrics", nil, nil, http.StatusNotFound)
	exposition := httpDo(t, http.MethodGet, metrics+"/metrics", nil, nil, http.StatusOK)
	if want := `ftpgw_http_requests_total{code="200",method="GET",route="/files/*"} 1`; !strings.Contains(exposition, want) {
		t.Errorf("the exposition lacks %s:\n%s", want, exposition)
	}
	for _, p := range []string{"/files/hello.txt", "/healthz", "/"} {
		httpDo(t, http.MethodGet, metrics+p, nil, nil, http.StatusNotFound)
	}

	for _, args := range [][]string{
		{"--metrics-listen", "9090"},
		{"--listen", "127.0.0.1:9999", "--metrics-listen", "127.0.0.1:9999"},
	} {
		if _, err := loadConfig(append([]string{"--demo"}, args...), envFrom(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "--metrics-listen") {
			t.Errorf("%v: error %v, want one naming --metrics-listen", args, err)
		}
	}
}
