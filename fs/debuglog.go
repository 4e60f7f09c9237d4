package fs

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// opLog turns go-fuse's debug output, a line when a request arrives
// ("rx N: OP ...") and one when it is answered ("tx N: STATUS ..."), into
// one slog line per FUSE operation, with the request and the reply.
type opLog struct {
	mu      sync.Mutex
	pending map[string]string // request id -> its rx line
}

// maxPending bounds the requests waiting for their answer in the log.
const maxPending = 4096

func newOpLog() *opLog { return &opLog{pending: map[string]string{}} }

func (l *opLog) Write(p []byte) (int, error) {
	for _, line := range strings.Split(string(bytes.TrimRight(p, "\n")), "\n") {
		l.line(line)
	}
	return len(p), nil
}

func (l *opLog) line(line string) {
	dir, rest, _ := strings.Cut(line, " ")
	id, body, ok := strings.Cut(rest, ": ")
	if !ok || (dir != "rx" && dir != "tx") {
		slog.Debug("fuse", "msg", line)
		return
	}
	body = strings.TrimSpace(body)
	op, _, _ := strings.Cut(body, " ")
	l.mu.Lock()
	defer l.mu.Unlock()
	if dir == "rx" {
		switch op {
		case "FORGET", "BATCH_FORGET", "INTERRUPT": // never answered
			slog.Debug("fuse", "op", op, "req", body)
			return
		}
		if len(l.pending) >= maxPending {
			l.pending = map[string]string{}
		}
		l.pending[id] = body
		return
	}
	req, ok := l.pending[id]
	delete(l.pending, id)
	op, _, _ = strings.Cut(req, " ")
	slog.Debug("fuse", "op", op, "id", id, "req", req, "reply", body)
}
