package main

import (
	"strings"
	"testing"
	"time"
)

// sampleTrace is the gateway's trace (--log-level debug) of two warm
// ranged GETs through the delay proxy at 10 ms RTT, cut short, with
// other log lines between: the end of the request before (a 426),
// the stat pipelined with the NOOP owed, then EPSV, REST and RETR in
// one write.
const sampleTrace = `{"time":"2026-12-01T05:47:35.687698641Z","level":"DEBUG","msg":"ftp recv","addr":"127.0.0.2:34233","code":426,"text":"Failure writing network stream."}
{"time":"2026-12-01T05:47:35.700000000Z","level":"INFO","msg":"request","status":206}
{"time":"2026-12-01T05:47:35.737614419Z","level":"DEBUG","msg":"ftp send","addr":"127.0.0.2:34233","line":"NOOP"}
{"time":"2026-12-01T05:47:35.737636091Z","level":"DEBUG","msg":"ftp send","addr":"127.0.0.2:34233","line":"SIZE /r/big.bin"}
{"time":"2026-12-01T05:47:35.737638327Z","level":"DEBUG","msg":"ftp send","addr":"127.0.0.2:34233","line":"MDTM /r/big.bin"}
not json at all
{"time":"2026-12-01T05:47:35.748510602Z","level":"DEBUG","msg":"ftp recv","addr":"127.0.0.2:34233","code":200,"text":"NOOP ok."}
{"time":"2026-12-01T05:47:35.748533592Z","level":"DEBUG","msg":"ftp recv","addr":"127.0.0.2:34233","code":213,"text":"67108864"}
{"time":"2026-12-01T05:47:35.748536154Z","level":"DEBUG","msg":"ftp recv","addr":"127.0.0.2:34233","code":213,"text":"20261201054734"}
{"time":"2026-12-01T05:47:35.748618962Z","level":"DEBUG","msg":"ftp send","addr":"127.0.0.2:34233","line":"EPSV"}
{"time":"2026-12-01T05:47:35.748620391Z","level":"DEBUG","msg":"ftp send","addr":"127.0.0.2:34233","line":"REST 60299953"}
{"time":"2026-12-01T05:47:35.748621504Z","level":"DEBUG","msg":"ftp send","addr":"127.0.0.2:34233","line":"RETR /r/big.bin"}
{"time":"2026-12-01T05:47:35.759296588Z","level":"DEBUG","msg":"ftp recv","addr":"127.0.0.2:34233","code":229,"text":"Entering Extended Passive Mode (|||23435|)"}
{"time":"2026-12-01T05:47:35.759414842Z","level":"DEBUG","msg":"ftp recv","addr":"127.0.0.2:34233","code":350,"text":"Restart position accepted (60299953)."}
{"time":"2026-12-01T05:47:35.781753164Z","level":"DEBUG","msg":"ftp recv","addr":"127.0.0.2:34233","code":150,"text":"Opening BINARY mode data connection."}
{"time":"2026-12-01T05:47:35.788730752Z","level":"DEBUG","msg":"ftp recv","addr":"127.0.0.2:34233","code":426,"text":"Failure writing network stream."}
{"time":"2026-12-01T05:47:35.790000000Z","level":"DEBUG","msg":"ftp send","addr":"127.0.0.2:34233","line":"EPSV"}
{"time":"2026-12-01T05:47:35.800000000Z","level":"DEBUG","msg":"ftp recv","addr":"127.0.0.2:34233","code":229,"text":"Entering Extended Passive Mode (|||23436|)"}
{"time":"2026-12-01T05:47:35.800000001Z","level":"DEBUG","msg":"ftp send","addr":"127.0.0.2:34233","line":"REST 0"}
{"time":"2026-12-01T05:47:35.800000002Z","level":"DEBUG","msg":"ftp send","addr":"127.0.0.2:34233","line":"RETR /r/big.bin"}
{"time":"2026-12-01T05:47:35.810000000Z","level":"DEBUG","msg":"ftp recv","addr":"127.0.0.2:34233","code":350,"text":"Restart position accepted (0)."}
{"time":"2026-12-01T05:47:35.820000000Z","level":"DEBUG","msg":"ftp recv","addr":"127.0.0.2:34233","code":150,"text":"Opening BINARY mode data connection."}
`

func TestReadTrace(t *testing.T) {
	evs, err := readTrace(strings.NewReader(sampleTrace))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 20 {
		t.Fatalf("readTrace: %d events, want 20 (the request log line and the line that is not JSON skipped)", len(evs))
	}
	if e := evs[1]; e.Msg != traceSend || e.Line != "NOOP" || !e.Time.Equal(time.Date(2026, 12, 1, 5, 47, 35, 737614419, time.UTC)) {
		t.Errorf("second event: %+v", e)
	}
	if e := evs[12]; e.Msg != traceRecv || e.Code != 150 {
		t.Errorf("13th event: %+v", e)
	}
	t0 := time.Date(2026, 12, 1, 5, 47, 35, 737614419, time.UTC)
	t1 := time.Date(2026, 12, 1, 5, 47, 35, 781753164, time.UTC)
	if got := between(evs, t0, t1); len(got) != 12 || got[0].Line != "NOOP" || got[11].Code != 150 {
		t.Errorf("between: %d events, first %+v", len(got), got[0])
	}
}

func TestCountFlights(t *testing.T) {
	evs, err := readTrace(strings.NewReader(sampleTrace))
	if err != nil {
		t.Fatal(err)
	}
	// A trace with the gateway's data dials logged.
	var dialled []traceEvent
	for _, ev := range evs {
		dialled = append(dialled, ev)
		if ev.Code == 229 {
			dialled = append(dialled, traceEvent{Time: ev.Time, Msg: traceDial})
		}
	}
	one := func(evs []traceEvent) []traceEvent { // up to the first request's last reply
		for i, ev := range evs {
			if ev.Code == 426 && i > 0 {
				return evs[:i+1]
			}
		}
		return evs
	}
	for _, tc := range []struct {
		name      string
		evs       []traceEvent
		firstByte bool
		want      flightCount
	}{
		// The 426 before the first send is the request before's.
		// Flights: NOOP+SIZE+MDTM, EPSV+REST+RETR, and the dial that
		// the 150 implies.
		{"first byte, dials guessed", one(evs), true, flightCount{flights: 3, dials: 1, guessed: true, data: true}},
		{"first byte, dials logged", one(dialled), true, flightCount{flights: 3, dials: 1, data: true}},
		// Two transfers: the second's EPSV waits for its reply, REST and
		// RETR go together after it (after its dial, when that is
		// logged): three more round trips.
		{"whole, dials guessed", evs, false, flightCount{flights: 6, dials: 2, guessed: true, data: true}},
		{"whole, dials logged", dialled, false, flightCount{flights: 6, dials: 2, data: true}},
		{"first byte of the whole", dialled, true, flightCount{flights: 3, dials: 1, data: true}},
		{"no transfer", evs[:7], true, flightCount{flights: 1}},
		{"a command unanswered", evs[:8], true, flightCount{flights: 2}},
		{"no send", evs[:1], true, flightCount{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := countFlights(tc.evs, tc.firstByte, dialsLogged(tc.evs)); got != tc.want {
				t.Errorf("countFlights = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseRTTs(t *testing.T) {
	got, err := parseRTTs("0, 1ms,10ms,40ms")
	if want := []time.Duration{0, time.Millisecond, 10 * time.Millisecond, 40 * time.Millisecond}; err != nil || len(got) != len(want) || got[0] != want[0] || got[3] != want[3] {
		t.Errorf("parseRTTs = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "10", "-1ms", "1ms,,2ms"} {
		if _, err := parseRTTs(bad); err == nil {
			t.Errorf("parseRTTs(%q): no error", bad)
		}
	}
}
