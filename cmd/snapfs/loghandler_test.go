package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Every text value is quoted, whatever it holds; numbers, booleans,
// durations, the time and the level stay bare.
func TestLogHandlerQuotes(t *testing.T) {
	var b bytes.Buffer
	l := slog.New(newLogHandler(&b, slog.LevelDebug))
	l.Info("published", "name", "x;$(id)#", "plain", "vm1", "err", errors.New("open x;$(id)#/a: denied"),
		"uid", 1000, "ok", true, "took", 2*time.Second, "list", []string{"a b"})
	l.With("store", "/s;t").WithGroup("g").Warn("line\nbreak", "unit", "u\"=x")
	got := b.String()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", got)
	}
	for _, want := range []string{
		`level=INFO msg="published" name="x;$(id)#" plain="vm1" err="open x;$(id)#/a: denied" uid=1000 ok=true took=2s list="[a b]"`,
		`level=WARN msg="line\nbreak" store="/s;t" g.unit="u\"=x"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s:\n%s", want, got)
		}
	}
	if !strings.HasPrefix(lines[0], "time=2") {
		t.Errorf("time quoted or missing: %s", lines[0])
	}
}
