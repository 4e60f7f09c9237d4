package fs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
	"github.com/snapfs/snapfs/snapshot/statetext"
)

// maxViewFile bounds what is read of a written-back view file other than
// value.bin (fields, type_url, value.txt, value.json).
const maxViewFile = 1 << 20

// checkViews compares the views written back into the staging directory
// dir (manifest/, state/) with the views of the staged snapshot itself:
// its manifest (the bytes to publish) and state.bin. It returns one
// finding per view that disagrees or does not belong: an edited or
// damaged backup is never published silently. value.txt and value.json
// are accepted as they are.
func checkViews(dir *os.File, manifest []byte, idx *snapshot.StateIndex) []string {
	var out []string
	if md, err := openDirAt(int(dir.Fd()), "manifest"); err == nil {
		out = append(out, checkFields(md, manifest)...)
		md.Close()
	}
	if sd, err := openDirAt(int(dir.Fd()), "state"); err == nil {
		out = append(out, checkUnits(dir, sd, idx)...)
		sd.Close()
	}
	return append(out, checkSums(dir)...)
}

func checkFields(md *os.File, manifest []byte) []string {
	var out []string
	m, err := snapshot.DecodeManifest(manifest)
	if err != nil {
		return nil // status says why already
	}
	for _, n := range stagedNames(md) {
		want, ok := m.Field(n)
		if !ok {
			out = append(out, fmt.Sprintf("unexpected file manifest/%s in the staging directory", n))
			continue
		}
		got, err := readEntry(md, n, maxViewFile)
		if err != nil {
			out = append(out, fmt.Sprintf("manifest/%s: %v", n, err))
		} else if !bytes.Equal(got, want) {
			out = append(out, fmt.Sprintf("manifest/%s is %q, but the staged manifest says %q", n, got, want))
		}
	}
	return out
}

func checkUnits(dir, sd *os.File, idx *snapshot.StateIndex) []string {
	if idx == nil {
		return nil // status says why already
	}
	byName := make(map[string]*snapshot.Unit, len(idx.Units))
	for i := range idx.Units {
		if _, ok := byName[idx.Units[i].Name]; !ok {
			byName[idx.Units[i].Name] = &idx.Units[i]
		}
	}
	var state *os.File
	if fd, err := openEntry(dir, "state.bin", unix.O_RDONLY, 0); err == nil {
		state = os.NewFile(uintptr(fd), "state.bin")
		defer state.Close()
	}
	var out []string
	for _, n := range stagedNames(sd) {
		name, err := snapshot.DecodeUnitName(n)
		u := byName[name]
		if err != nil || u == nil {
			out = append(out, fmt.Sprintf("state/%s: state.bin has no unit of that name", n))
			continue
		}
		ud, err := openDirAt(int(sd.Fd()), n)
		if err != nil {
			out = append(out, fmt.Sprintf("state/%s: %v", n, err))
			continue
		}
		out = append(out, checkUnit(ud, "state/"+n, u, state)...)
		ud.Close()
	}
	return out
}

func checkUnit(ud *os.File, where string, u *snapshot.Unit, state *os.File) []string {
	var out []string
	for _, f := range stagedNames(ud) {
		var err error
		switch f {
		case "type_url":
			err = compareEntry(ud, f, []byte(u.TypeURL+"\n"))
		case "value.bin":
			if state == nil {
				continue
			}
			// Compared in chunks: the declared length is the user's.
			err = compareStream(ud, f, io.NewSectionReader(state, u.ValueOff, u.ValueLen), u.ValueLen)
		case "value.txt":
			if state == nil {
				continue
			}
			err = checkUnitText(ud, u, state)
		case "value.json":
			continue // depends on the schema of the mount that wrote it
		default:
			out = append(out, fmt.Sprintf("unexpected file %s/%s in the staging directory", where, f))
			continue
		}
		if err != nil {
			out = append(out, fmt.Sprintf("%s/%s: %v", where, f, err))
		}
	}
	return out
}

// checkUnitText compares a written-back value.txt with the text the view
// makes; a unit too large for a text view has none to write back, and
// is refused before anything the size of it is allocated.
func checkUnitText(ud *os.File, u *snapshot.Unit, state *os.File) error {
	b, err := statetext.ReadValue(state, "the staged state.bin", *u)
	if errors.Is(err, statetext.ErrTooLarge) {
		return fmt.Errorf("no text view: %v", err)
	} else if err != nil {
		return err
	}
	text, err := statetext.DecodeRaw(b)
	if err != nil {
		return fmt.Errorf("the staged state.bin's unit has no text view: %v", err)
	}
	return compareEntry(ud, "value.txt", text)
}

// compareEntry compares the staged file name with want.
func compareEntry(dir *os.File, name string, want []byte) error {
	got, err := readEntry(dir, name, max(int64(len(want)), maxViewFile))
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return errors.New("differs from the staged state.bin's unit")
	}
	return nil
}

// compareChunk is how much of each side compareStream holds at a time.
const compareChunk = 1 << 20

// compareStream compares the staged file name with the n bytes of want,
// a chunk at a time, and stops at the first difference: memory stays
// bounded whatever length either side claims.
func compareStream(dir *os.File, name string, want io.Reader, n int64) error {
	fd, err := openEntry(dir, name, unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	differs := errors.New("differs from the staged state.bin's unit")
	if st.Size != n {
		return differs
	}
	a, b := make([]byte, compareChunk), make([]byte, compareChunk)
	for n > 0 {
		c := int(min(n, compareChunk))
		if _, err := io.ReadFull(want, a[:c]); err != nil {
			return fmt.Errorf("reading state.bin: %v", err)
		}
		if _, err := io.ReadFull(f, b[:c]); err != nil {
			return differs
		}
		if !bytes.Equal(a[:c], b[:c]) {
			return differs
		}
		n -= int64(c)
	}
	return nil
}

// removeViews deletes the written-back views of dir once they are
// validated: a published snapshot holds its three files only (its digest
// record, and so sha256sums, is made anew after publishing).
func removeViews(dir *os.File) error {
	if err := unix.Unlinkat(int(dir.Fd()), sumsFile, 0); err != nil && err != unix.ENOENT {
		return err
	}
	for name := range viewDirs {
		if err := removeViewTree(dir, name, 2); err != nil {
			return fmt.Errorf("removing the written-back %s/: %w", name, err)
		}
	}
	return nil
}

// removeViewTree removes the directory name of dir and what it holds, at
// most depth levels of directories, through fds only.
func removeViewTree(dir *os.File, name string, depth int) error {
	sub, err := openDirAt(int(dir.Fd()), name)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, n := range stagedNames(sub) {
		st, err := statEntry(sub, n)
		if err != nil {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR && depth > 1 {
			err = removeViewTree(sub, n, depth-1)
		} else {
			err = unix.Unlinkat(int(sub.Fd()), n, 0)
		}
		if err != nil {
			sub.Close()
			return err
		}
	}
	sub.Close()
	return unix.Unlinkat(int(dir.Fd()), name, unix.AT_REMOVEDIR)
}

// sumsFile is the sha256sums view, when a backup brings it back.
const sumsFile = "sha256sums"

// checkSums verifies a written-back sha256sums against the staged files
// themselves (it reads them all: a damaged backup is caught before it is
// published). Lines for other names, or not in sha256sum's format, are
// findings too.
func checkSums(dir *os.File) []string {
	b, err := readEntry(dir, sumsFile, maxSumsFile)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", sumsFile, err)}
	}
	want, bad := parseSums(b)
	if len(bad) > 0 {
		return bad // invalid at once, before hashing anything
	}
	var out []string
	for _, name := range sourceFiles {
		got, err := hashEntry(dir, name)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %s: %v", sumsFile, name, err))
		} else if got != want[name] {
			out = append(out, fmt.Sprintf("%s has SHA-256 %s, but the written-back %s says %s", name, got, sumsFile, want[name]))
		}
	}
	return out
}

// maxSumsFile bounds a written-back sha256sums: three lines of
// "<64 hex>  <name>\n", with room to spare.
const maxSumsFile = 4 << 10

// parseSums reads a written-back sha256sums: exactly one line per source
// file, nothing else. Anything else is a finding, so that no file is
// hashed more than once per validation.
func parseSums(b []byte) (map[string]string, []string) {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != len(sourceFiles) {
		return nil, []string{fmt.Sprintf("%s has %d lines, but a snapshot's has %d (one per file: %s); remove it or restore the one the mount made",
			sumsFile, len(lines), len(sourceFiles), strings.Join(sourceFiles[:], ", "))}
	}
	want := make(map[string]string, len(sourceFiles))
	var out []string
	for i, line := range lines {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 || !sourceFile(name) {
			out = append(out, fmt.Sprintf("%s line %d: %q is not a digest of a snapshot file", sumsFile, i+1, line))
			continue
		}
		if _, dup := want[name]; dup {
			out = append(out, fmt.Sprintf("%s line %d: a second line for %s", sumsFile, i+1, name))
			continue
		}
		want[name] = sum
	}
	return want, out
}

func sourceFile(name string) bool {
	for _, f := range sourceFiles {
		if f == name {
			return true
		}
	}
	return false
}

// hashEntry is the SHA-256 of the staged file name, in hex: at once for
// a small file or one hashed before, else an error (sumscache.go).
func hashEntry(dir *os.File, name string) (string, error) {
	fd, err := openEntry(dir, name, unix.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return stagedSums.sum(f)
}
