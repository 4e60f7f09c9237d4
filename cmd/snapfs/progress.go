package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// progress draws a progress bar on w while a long command works, when w
// is a terminal; elsewhere (a pipe, a log, a test) it prints nothing.
type progress struct {
	w     io.Writer
	label string
	total int64
	done  atomic.Int64
	stop  chan struct{}
	ended chan struct{}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// startProgress starts a bar for label, total bytes, on w (if a terminal).
// The caller advances p.done and calls p.end.
func startProgress(w io.Writer, label string, total int64) *progress {
	p := &progress{w: w, label: label, total: total, stop: make(chan struct{}), ended: make(chan struct{})}
	if !isTerminal(w) {
		close(p.ended)
		return p
	}
	go func() {
		defer close(p.ended)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprintf(w, "\r%s\r", strings.Repeat(" ", 79))
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progress) draw() {
	const width = 30
	d, total := p.done.Load(), max(p.total, 1)
	frac := min(float64(d)/float64(total), 1)
	n := int(frac * width)
	label := p.label
	if len(label) > 24 {
		label = label[:21] + "..."
	}
	fmt.Fprintf(p.w, "\r%-24s [%s%s] %3.0f%% %s / %s", label, strings.Repeat("#", n), strings.Repeat(".", width-n),
		frac*100, fmtBytes(d), fmtBytes(p.total))
}

func (p *progress) end() {
	select {
	case <-p.ended:
	default:
		close(p.stop)
		<-p.ended
	}
}

// fmtBytes prints a byte count in binary units.
func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
