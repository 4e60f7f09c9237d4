package fs

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// opLog turns go-fuse's debug output, a line when a request arrives
// ("rx N: OP ...") and one when it is answered ("tx N: STATUS ..."), into
// one slog line per FUSE operation, with the request and the reply. File
// data never reaches the log (scrubData); names stay, quoted by go-fuse,
// and the daemon's handler quotes the whole value again.
type opLog struct {
	mu      sync.Mutex
	pending map[string]string // request id -> its rx line
}

// maxPending bounds the requests waiting for their answer in the log.
const maxPending = 4096

func newOpLog() *opLog { return &opLog{pending: map[string]string{}} }

func (l *opLog) Write(p []byte) (int, error) {
	for _, line := range strings.Split(string(bytes.TrimRight(p, "\n")), "\n") {
		l.line(scrubData(line))
	}
	return len(p), nil
}

func (l *opLog) line(line string) {
	dir, rest, _ := strings.Cut(line, " ")
	id, body, ok := strings.Cut(rest, ": ")
	if !ok || (dir != "rx" && dir != "tx") {
		slog.Debug("fuse", "line", line)
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

// scrubData replaces the file data go-fuse quotes in its debug lines by
// "<data>": a request's payload, its first bytes then a size
// (`"SECRETPA"... 13b`: WRITE, SETXATTR's value), and a reply's, a size
// then the bytes (`13b data "SECRETPA"...`: READ, GETXATTR, READDIR).
// Other quoted strings are names and stay. A quote that does not end
// ends the line: nothing after it is known not to be data.
func scrubData(line string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(line, '"')
		if i < 0 {
			b.WriteString(line)
			return b.String()
		}
		before := line[:i]
		b.WriteString(before)
		q, err := strconv.QuotedPrefix(line[i:])
		if err != nil {
			b.WriteString("<cut>")
			return b.String()
		}
		rest := line[i+len(q):]
		if more := strings.TrimPrefix(rest, "..."); strings.HasSuffix(before, "data ") || startsWithSize(more) {
			b.WriteString("<data>")
			rest = more
		} else {
			b.WriteString(q)
		}
		line = rest
	}
}

// startsWithSize reports whether s starts with " <digits>b", go-fuse's
// size of a payload, followed by nothing or a space.
func startsWithSize(s string) bool {
	s, ok := strings.CutPrefix(s, " ")
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if !ok || n == 0 || n == len(s) || s[n] != 'b' {
		return false
	}
	return n+1 == len(s) || s[n+1] == ' '
}
