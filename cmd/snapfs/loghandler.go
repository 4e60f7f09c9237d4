package main

import (
	"fmt"
	"io"
	"log/slog"
)

// newLogHandler is the slog handler of the daemon and of every command:
// text lines whose values are all quoted (quoteAttr).
func newLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: quoteAttr})
}

// quotedText is text that slog's TextHandler always writes with
// strconv.Quote: it does so for byte slices, but for strings only when
// they hold a space, '=', '"' or a non-printable character.
type quotedText []byte

// quoteAttr writes every text value (the message, strings, errors and
// anything else printed with %+v) as a Go-quoted string, whoever wrote
// the log call: values hold names users chose (snapshots, staging
// directories, files, units, paths, and errors naming them), which then
// can never read as more fields, more lines or shell syntax (`;$()#`).
// Numbers, booleans, durations, the time and the level stay bare.
func quoteAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
		return a
	}
	switch a.Value.Kind() {
	case slog.KindString:
		a.Value = slog.AnyValue(quotedText(a.Value.String()))
	case slog.KindAny:
		if _, ok := a.Value.Any().(quotedText); !ok {
			a.Value = slog.AnyValue(quotedText(fmt.Sprintf("%+v", a.Value.Any())))
		}
	}
	return a
}
