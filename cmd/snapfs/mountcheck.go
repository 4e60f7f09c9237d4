package main

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	dev    string // "major:minor"
	point  string
	fstype string
	source string
}

// mountAt returns the topmost mount whose mount point is path (already
// absolute), read from mountinfo: it never touches the mount itself, so a
// wedged FUSE connection cannot hang it.
func mountAt(path string) (mountEntry, bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return mountEntry{}, false
	}
	defer f.Close()
	var found mountEntry
	ok := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root point options... - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		if unescapeMount(fields[4]) == path {
			found = mountEntry{dev: fields[2], point: path, fstype: fields[sep+1], source: unescapeMount(fields[sep+2])}
			ok = true
		}
	}
	return found, ok
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// probeTimeout bounds every look at an old mount at MNT.
const probeTimeout = 2 * time.Second

// statfsBounded is statfs(path) that gives up after probeTimeout
// (a wedged connection answers never): ok is false then.
func statfsBounded(path string) (err error, ok bool) {
	done := make(chan error, 1)
	go func() {
		var st unix.Statfs_t
		done <- unix.Statfs(path, &st)
	}()
	select {
	case err := <-done:
		return err, true
	case <-time.After(probeTimeout):
		return nil, false
	}
}

// clearOldMount deals with a mount already at mnt (absolute): a live
// snapfs mount is refused; a dead or wedged FUSE mount is aborted and
// detached, so a killed daemon never leaves MNT unusable.
func clearOldMount(mnt string) error {
	m, ok := mountAt(mnt)
	if !ok || !strings.HasPrefix(m.fstype, "fuse") {
		return nil
	}
	err, answered := statfsBounded(mnt)
	switch {
	case answered && err == nil:
		if m.fstype == "fuse.snapfs" {
			return fmt.Errorf("%s is already a live snapfs mount of %s: unmount it first (umount %s)", mnt, m.source, mnt)
		}
		return nil // another live FUSE filesystem: mount over it, as mount(8) would
	case answered && err != unix.ENOTCONN && err != unix.ECONNABORTED:
		return nil
	}
	if !answered {
		// The old daemon is gone or stuck with the kernel waiting on it
		// (killed while a notification waited for a directory lock):
		// abort the connection, which fails every waiting request and
		// lets the old process end.
		slog.Warn("aborting a wedged FUSE connection", "mnt", mnt, "dev", m.dev)
		if err := abortConnection(m.dev); err != nil {
			slog.Warn("cannot abort the old connection", "mnt", mnt, "err", err)
		}
	}
	slog.Warn("detaching dead mount", "mnt", mnt)
	if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("%s: dead mount that cannot be detached: %w", mnt, err)
	}
	return nil
}

// fusectlDir is where the FUSE control filesystem shows each connection.
const fusectlDir = "/sys/fs/fuse/connections"

// abortConnection aborts the FUSE connection of the mount with device
// dev ("major:minor"), mounting the control filesystem when it is not.
func abortConnection(dev string) error {
	_, minor, ok := strings.Cut(dev, ":")
	if !ok {
		return fmt.Errorf("device %q", dev)
	}
	if ents, _ := os.ReadDir(fusectlDir); len(ents) == 0 {
		if err := unix.Mount("fusectl", fusectlDir, "fusectl", 0, ""); err != nil && err != unix.EBUSY {
			return fmt.Errorf("mounting fusectl at %s: %w", fusectlDir, err)
		}
	}
	return os.WriteFile(filepath.Join(fusectlDir, minor, "abort"), []byte("1"), 0)
}
