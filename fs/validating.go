package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A staging directory whose validation killed the daemon (out of memory,
// SIGKILL) must not kill it again at every start by publishing itself.
// Before validating, publish records a marker, durably, in the staging
// area's own hidden directory .snapfs-validating (the daemon's, 0700,
// never listed in new/), named by the staging directory's inode and
// holding when validation started and a stamp of the directory's
// changes; it is removed once validation ends. A marker left behind
// means the daemon stopped while validating: the directory is not
// published by itself again until it changes (any write, touch, create,
// remove or rename in it, or its own rename, makes a new stamp), and its
// status says so. mv publishes it all the same: the user asked.
const validatingDirName = ".snapfs-validating"

// hiddenStage reports whether a name in .snapfs-staging is snapfs's own
// (never a staging directory: those are valid snapshot names).
func hiddenStage(name string) bool { return strings.HasPrefix(name, ".snapfs-") }

// testValidateDelay, from SNAPFS_TEST_VALIDATE_DELAY (read only when a
// test sets it), holds each validation after its marker is written, so a
// test can kill the daemon in the middle.
var testValidateDelay, _ = time.ParseDuration(os.Getenv("SNAPFS_TEST_VALIDATE_DELAY"))

// markers opens .snapfs-validating beneath the staging area r, making it
// when create is set. One that is not the daemon's is moved aside
// (ownDir).
func markers(r *os.File, create bool) (*os.File, error) {
	return ownDir{
		dfd: int(r.Fd()), where: stagingDirName, name: validatingDirName,
		trusted: func(st *unix.Stat_t) bool { return int(st.Uid) == os.Geteuid() && st.Mode&0o077 == 0 },
		make:    func(dfd int, name string) error { return unix.Mkdirat(dfd, name, 0o700) },
	}.open(create)
}

// changeStamp sums up the changes to the staging directory dir: the
// newest ctime of it and its entries, and how many there are.
func changeStamp(dir *os.File) string {
	var newest unix.Timespec
	if st, err := statEntry(dir, "."); err == nil {
		newest = st.Ctim
	}
	names := stagedNames(dir)
	for _, n := range names {
		if st, err := statEntry(dir, n); err == nil && timeAfter(&st.Ctim, &newest) {
			newest = st.Ctim
		}
	}
	return fmt.Sprintf("%d.%09d/%d", newest.Sec, newest.Nsec, len(names))
}

func markerName(ino uint64) string { return strconv.FormatUint(ino, 10) }

// markValidating records, durably, that the staging directory dir (in
// the staging area r) is being validated; the returned func removes the
// record. A record that cannot be written is logged, and validation goes
// on: it only guards against a crash.
func (s *stager) markValidating(r, dir *os.File, name string) (done func()) {
	done = func() {}
	var self unix.Stat_t
	err := unix.Fstat(int(dir.Fd()), &self)
	text := fmt.Sprintf("started %d\nstamp %s\n", time.Now().UnixNano(), changeStamp(dir))
	var m *os.File
	// Twice: another validation may remove the directory, empty, between
	// its open and the write (ENOENT).
	for try := 0; err == nil && try < 2; try++ {
		if m, err = markers(r, true); err == nil {
			if err = writeMarker(m, markerName(self.Ino), text); err != nil {
				m.Close()
			}
		}
		if !errors.Is(err, unix.ENOENT) {
			break
		}
	}
	if err != nil {
		slog.Warn("cannot record that a staged snapshot is being validated; a crash during it would be retried at the next start", "name", name, "err", err)
		return done
	}
	if testValidateDelay > 0 {
		time.Sleep(testValidateDelay)
	}
	return func() {
		unix.Unlinkat(int(m.Fd()), markerName(self.Ino), 0)
		m.Close()
		// Gone when empty, so the staging area holds only staging
		// directories while nothing is validated.
		unix.Unlinkat(int(r.Fd()), validatingDirName, unix.AT_REMOVEDIR)
	}
}

// writeMarker writes the marker name in the directory m atomically
// (a temporary name, then a rename) and durably.
func writeMarker(m *os.File, name, text string) error {
	tmp := name + ".tmp"
	fd, err := openAt(int(m.Fd()), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(int(m.Fd()), tmp, int(m.Fd()), name)
	}
	if err == nil {
		err = m.Sync()
	}
	if err != nil {
		unix.Unlinkat(int(m.Fd()), tmp, 0)
	}
	return err
}

// interrupted reports when the validation of the staging directory dir
// started that a stopped daemon left unfinished, if dir has not changed
// since. A marker of a directory that changed is removed.
func (s *stager) interrupted(dir *os.File) (started time.Time, stopped bool) {
	var self unix.Stat_t
	if unix.Fstat(int(dir.Fd()), &self) != nil {
		return time.Time{}, false
	}
	s.withMarkers(func(_, m *os.File) {
		b, err := readEntry(m, markerName(self.Ino), 256)
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		var nanos int64
		var stamp string
		if err == nil {
			_, err = fmt.Sscanf(string(b), "started %d\nstamp %s\n", &nanos, &stamp)
		}
		if err != nil || stamp != changeStamp(dir) {
			unix.Unlinkat(int(m.Fd()), markerName(self.Ino), 0) // changed since (or unreadable): try again
			return
		}
		started, stopped = time.Unix(0, nanos), true
	})
	return started, stopped
}

// withMarkers runs fn with the staging area r and its markers m, if there
// are any.
func (s *stager) withMarkers(fn func(r, m *os.File)) {
	r, err := s.root()
	if err != nil {
		return
	}
	defer r.Close()
	m, err := markers(r, false)
	if err != nil {
		return
	}
	defer m.Close()
	fn(r, m)
}

// sweepMarkers removes the markers of staging directories that are gone
// (published or removed while the daemon was stopped).
func (s *stager) sweepMarkers(stages []stagedDir) {
	live := map[string]bool{}
	for _, st := range stages {
		live[markerName(st.ino)] = true
	}
	s.withMarkers(func(r, m *os.File) {
		names, _ := entryNames(m)
		for _, n := range names {
			if !live[n] {
				unix.Unlinkat(int(m.Fd()), n, 0)
			}
		}
		unix.Unlinkat(int(r.Fd()), validatingDirName, unix.AT_REMOVEDIR) // when empty
	})
}

// interruptedLine is status's line for a staging directory whose last
// validation did not finish.
func interruptedLine(started time.Time) string {
	return fmt.Sprintf("error: validation did not finish last time (daemon stopped during the validation begun at %s); it is not published by itself: change a file or mv it to try again\n",
		started.UTC().Format(time.RFC3339))
}

// dropMarker removes the marker of the staging directory name, which
// changed through the mount (a change below its top level leaves the
// stamp as it was).
func (s *stager) dropMarker(name string) {
	dir, err := s.openStage(name, 0)
	if err != nil {
		return
	}
	defer dir.Close()
	var self unix.Stat_t
	if unix.Fstat(int(dir.Fd()), &self) != nil {
		return
	}
	s.withMarkers(func(_, m *os.File) { unix.Unlinkat(int(m.Fd()), markerName(self.Ino), 0) })
}
