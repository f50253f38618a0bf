package api

import "github.com/go-chi/chi/v5"

// SetTempQueueLimit sets how many temporary files s's deletion queue
// holds, for tests of a full queue. Call it before s serves requests.
func SetTempQueueLimit(s *Server, n int) {
	s.temps.mu.Lock()
	s.temps.limit = n
	s.temps.mu.Unlock()
}

// RetryTempRemoval queues the temporary file p (an FTP path) as a failed
// upload does when the file cannot be deleted.
func RetryTempRemoval(s *Server, p string) { s.temps.retry(s.cfg.Pool, p) }

// TransferClients is the number of clients s counts transfers of.
func TransferClients(s *Server) int { return s.transfers.clientCount() }

// Router is the chi router of s, for chi.Walk.
func Router(s *Server) chi.Routes { return s.router }
