package fs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A validation that a stopped daemon left unfinished (its marker is
// there): the next daemon does not publish the staging directory by
// itself, its status says why, new/ does not list the marker, and a
// change (a touch, or one through the mount) lets it publish again.
func TestStageInterruptedValidation(t *testing.T) {
	for _, how := range []string{"touch in STORE", "change through the mount"} {
		t.Run(how, func(t *testing.T) {
			s, store := newTestStager(t)
			s.t.opts.CommitDelay = time.Nanosecond
			if err := s.mkdir("x", 0o755, os.Getuid(), os.Getgid(), 0); err != nil {
				t.Fatal(err)
			}
			staged := filepath.Join(store, stagingDirName, "x")
			writeSnapshot(t, staged, false)
			past := time.Now().Add(-time.Minute)
			for _, n := range []string{"", "manifest.bin", "state.bin", "memory.bin"} {
				os.Chtimes(filepath.Join(staged, n), past, past)
			}
			// The daemon dies validating x: its marker stays.
			r, _ := s.root()
			dir, err := s.openStage("x", 0)
			if err != nil {
				t.Fatal(err)
			}
			s.markValidating(r, dir, "x")
			dir.Close()
			r.Close()

			// The next daemon.
			s2 := newTree(s.t.store, Options{CommitDelay: time.Nanosecond}).stage
			s2.published = nil
			stages, _ := s2.listStat()
			if len(stages) != 1 || stages[0].name != "x" {
				t.Fatalf("new/ lists %v, want x alone", stages)
			}
			s2.sweepMarkers(stages)
			s2.autoCommit("x")
			if _, err := os.Stat(filepath.Join(store, "x")); err == nil {
				t.Fatal("published by itself after an interrupted validation")
			}
			status, _, err := s2.status("x", 0)
			if err != nil || !strings.Contains(string(status), "validation did not finish last time") ||
				!strings.Contains(string(status), "change a file or mv it to try again") {
				t.Fatalf("status (%v):\n%s", err, status)
			}
			if strings.Contains(string(status), "complete:") {
				t.Errorf("status still says it publishes by itself:\n%s", status)
			}
			if how == "touch in STORE" {
				now := time.Now()
				os.Chtimes(filepath.Join(staged, "memory.bin"), now, now)
			} else {
				s2.touched("x") // a change below the top level leaves the stamp as it was
			}
			s2.autoCommit("x")
			if _, err := os.Stat(filepath.Join(store, "x", "manifest.bin")); err != nil {
				t.Fatalf("not published after the change: %v", err)
			}
			if _, err := os.Lstat(filepath.Join(store, stagingDirName, validatingDirName)); err == nil {
				t.Error(validatingDirName + " left after the marker's validation ended")
			}
		})
	}
}
