package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/ftpgw/ftpgw/auth"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"
)

// requestInfo is what a request's handlers tell the logging middleware.
type requestInfo struct {
	id         string
	status     int
	bytes      int64
	headerSent bool
	ftpCode    int
	err        error
	token      string // the name of the request's bearer token
	// tok is the request's bearer token, once requireToken found it.
	tok       *auth.Token
	signedKey string // the key id of the request's signed URL
	// transfer is the request's transfer, once it has begun (beginLive).
	transfer *liveTransfer
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// requestID takes a sane X-Request-Id from the client or makes one, and
// echoes it in the response.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			var b [8]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		info := &requestInfo{id: id}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info)))
	})
}

// methodLabel bounds the method label: a client can send any token.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPost, http.MethodOptions, http.MethodPatch,
		methodMkcol, methodMove:
		return m
	}
	return "OTHER"
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// observe logs every request once and feeds the HTTP metrics, also for
// responses aborted with http.ErrAbortHandler.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := requestInfoFrom(r.Context())
		rw := &responseWriter{ResponseWriter: w, info: info}
		aborted := false
		defer func() {
			rec := recover()
			if rec != nil {
				aborted = true
			}
			route := "unmatched"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			status := info.status
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			s.metrics.request(methodLabel(r.Method), route, status, d)
			if info.transfer != nil {
				result := transferResult(info.err)
				if aborted && info.err == nil {
					result = "error"
				}
				s.metrics.transferFinished(info.transfer, result)
			}
			level := slog.LevelInfo
			if status >= 500 || aborted {
				level = slog.LevelError
			}
			// The attributes are built only when the line will be written:
			// at --log-level warn, successful requests cost nothing here.
			if s.log.Enabled(r.Context(), level) {
				attrs := []slog.Attr{
					slog.String("request_id", info.id),
					slog.String("method", r.Method),
					slog.String("route", route),
					slog.String("backend", s.name),
					slog.Int("status", status),
					slog.Int64("bytes", info.bytes),
					slog.Duration("duration", d),
				}
				if info.token != "" {
					attrs = append(attrs, slog.String("token_name", info.token))
				}
				if info.signedKey != "" {
					attrs = append(attrs, slog.String("signed_key", info.signedKey))
				}
				if info.ftpCode != 0 {
					attrs = append(attrs, slog.Int("ftp_code", info.ftpCode))
				}
				if aborted {
					attrs = append(attrs, slog.Bool("aborted", true))
				}
				if info.err != nil && (status >= 500 || aborted) {
					attrs = append(attrs, slog.String("err", info.err.Error()))
				}
				s.log.LogAttrs(r.Context(), level, "request", attrs...)
			}
			if rec != nil {
				panic(rec)
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// recoverPanics turns a handler's panic into a 500, except the deliberate
// http.ErrAbortHandler, which must reach net/http to cut the connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			s.log.Error("handler panic", "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			s.writeError(w, r, fmt.Errorf("panic: %v", rec))
		}()
		next.ServeHTTP(w, r)
	})
}

// responseWriter records status and bytes. It keeps the underlying
// writer's io.ReaderFrom: without it, io.Copy from an FTP data connection
// could not splice into the client's socket.
type responseWriter struct {
	http.ResponseWriter
	info *requestInfo
}

func (w *responseWriter) WriteHeader(code int) {
	if code >= 200 && !w.info.headerSent {
		w.info.headerSent = true
		w.info.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.info.headerSent {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.info.bytes += int64(n)
	return n, err
}

func (w *responseWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.info.headerSent {
		w.WriteHeader(http.StatusOK)
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, r)
	}
	w.info.bytes += n
	return n, err
}

func (w *responseWriter) Flush() {
	if !w.info.headerSent {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writerOnly hides every method but Write, so io.Copy cannot recurse into
// a ReadFrom.
type writerOnly struct{ io.Writer }
