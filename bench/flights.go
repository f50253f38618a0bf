package main

import (
	"bufio"
	"encoding/json"
	"io"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
)

// The gateway's protocol trace at --log-level debug: one JSON object a
// line (slog's JSON handler), "ftp send" with the command line, "ftp
// recv" with the reply's code (ftpcore/exchange.go), and "ftp data dial"
// when a data connection is dialled.
const (
	traceSend = "ftp send"
	traceRecv = "ftp recv"
	traceDial = "ftp data dial"
)

// traceEvent is one line of the trace.
type traceEvent struct {
	Time time.Time `json:"time"`
	Msg  string    `json:"msg"`
	Line string    `json:"line"`
	Code int       `json:"code"`
}

// readTrace returns the trace lines of the gateway's output, in order;
// other lines are skipped.
func readTrace(r io.Reader) ([]traceEvent, error) {
	var evs []traceEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev traceEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		switch ev.Msg {
		case traceSend, traceRecv, traceDial:
			evs = append(evs, ev)
		}
	}
	return evs, sc.Err()
}

// between returns the events of evs from t0 to t1, both included.
func between(evs []traceEvent, t0, t1 time.Time) []traceEvent {
	var out []traceEvent
	for _, ev := range evs {
		if !ev.Time.Before(t0) && !ev.Time.After(t1) {
			out = append(out, ev)
		}
	}
	return out
}

// flightCount is what countFlights found in one request's trace.
type flightCount struct {
	// flights is the round trips: each flight of commands (a send that
	// follows a reply, or the request's first send) and each data
	// connection's dial.
	flights int
	// dials is the "ftp data dial" lines counted; when the trace has none
	// (a gateway that does not log its dials), each preliminary reply
	// (125, 150: the server has the data connection) counts one dial
	// instead, and guessed says so.
	dials   int
	guessed bool
	// data is whether a transfer started (a preliminary reply came).
	data bool
}

// countFlights counts the round trips of one request's trace. With
// firstByte it stops at the first preliminary reply to a transfer command,
// when the first byte of data arrives: the round trips before the first
// byte; without it, the round trips of the whole request. Replies before
// the request's first send (the end of the request before it) are not
// counted.
func countFlights(evs []traceEvent, firstByte, dialsLogged bool) flightCount {
	var fc flightCount
	inFlight := false // the last event was a send: a send now rides with it
	started := false
	for _, ev := range evs {
		switch ev.Msg {
		case traceSend:
			if !inFlight {
				fc.flights++
			}
			inFlight, started = true, true
		case traceDial:
			if !started {
				continue
			}
			fc.flights++
			fc.dials++
			inFlight = false
		case traceRecv:
			if !started {
				continue
			}
			inFlight = false
			if ev.Code == ftpcore.StatusAboutToSend || ev.Code == ftpcore.StatusAlreadyOpen {
				fc.data = true
				if !dialsLogged {
					fc.flights++
					fc.dials++
					fc.guessed = true
				}
				if firstByte {
					return fc
				}
			}
		}
	}
	return fc
}

// dialsLogged reports whether the gateway's trace has its data dials.
func dialsLogged(evs []traceEvent) bool {
	for _, ev := range evs {
		if ev.Msg == traceDial {
			return true
		}
	}
	return false
}
