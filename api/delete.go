package api

import (
	"context"
	"net/http"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// deleteFile removes a file, or an empty directory, or a symbolic link
// that the link policy follows (the link itself).
func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) error {
	clean, dirReq, err := s.requestPath(r)
	if err != nil {
		return err
	}
	if clean == "/" {
		w.Header().Set("Allow", allowRoot)
		return methodNotAllowed("the root cannot be deleted")
	}
	ctx := r.Context()
	err = s.poolOf(ctx).Do(ctx, func(c *ftpcore.Conn) error {
		full := s.ftpPath(c, clean)
		// Located first, under the link policy: no lock is made beside a
		// name the policy keeps the gateway from (in a directory that is
		// a link out of the root).
		l, err := s.locate(ctx, c, full, dirReq)
		if err != nil {
			return err
		}
		guarded := httpsem.Guarded(r.Header)
		if guarded {
			// Judged and acted on as one step, as a PUT's rename is: looked
			// at again under the lock.
			unlock, err := s.lockName(ctx, c, full)
			if err != nil {
				return err
			}
			defer unlock()
			if l, err = s.locate(ctx, c, full, dirReq); err != nil {
				return err
			}
		}
		e := l.entry
		if guarded && httpsem.CheckPreconditions(r.Method, r.Header, s.validatorsOf(e)) != httpsem.PrecondProceed {
			return preconditionFailed()
		}
		if l.link && (!dirReq || e.Type == ftpcore.EntryDir) {
			// The link goes, not what it leads to: DELE unlinks it on
			// the Unix servers, a link to a directory too.
			return deleteName(ctx, c, full)
		}
		if e.Type == ftpcore.EntryDir {
			return removeDir(ctx, c, full)
		}
		if dirReq {
			return notFound("not a directory")
		}
		return deleteName(ctx, c, full)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteName runs DELE of full, and looks into a refusal (whyRefused). A
// file found there after a refusal may be another client's, put in the
// place of one deleted in between (TestPutDeleteRace saw it on vsftpd and
// pure-ftpd): only a refusal with the file there at each of changedTries
// tries is a denial.
func deleteName(ctx context.Context, c *ftpcore.Conn, full string) error {
	for attempt := 1; ; attempt++ {
		err := whyRefused(ctx, c, refusedDelete, full, c.Delete(ctx, full))
		if attempt == changedTries || !isDenied(err) {
			return err
		}
	}
}

// removeDir runs RMD of full. A refusal ("550 Remove directory operation
// failed." is all vsftpd says) is of a directory that is not empty (409),
// or, when a listing finds it empty, of one the account may not remove
// (403).
func removeDir(ctx context.Context, c *ftpcore.Conn, full string) error {
	err := c.Rmdir(ctx, full)
	if ftpcore.ReplyCode(err) != ftpcore.StatusFileUnavailable {
		return err
	}
	entries, lerr := c.ListAll(ctx, full)
	switch {
	case lerr == nil && len(entries) == 0:
		return denied(detailDeniedRemove, err)
	case lerr == nil:
		return conflict("the directory is not empty", err)
	}
	return conflict("the directory is not empty or cannot be removed", err)
}
