package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/snapfs/snapfs/snapshot"
)

func init() {
	register("sample", "write demo snapshots into a store", runSample)
}

func runSample(args []string, stdout, stderr io.Writer) int {
	fl := newCmdFlags("sample", "[--count N] [--memory-size SIZE] STORE",
		"Writes N valid demo snapshots vm1..vmN into STORE (created if needed), as\n"+
			"OpenVMM's save-snapshot would: x86_64 and aarch64, various VP counts, typical\n"+
			"device state units, and a sparse memory.bin. Existing names are an error.",
		stderr)
	count := fl.Int("count", 3, "make `N` snapshots")
	mem := sizeFlag{64 << 20}
	fl.Var(&mem, "memory-size", "guest RAM (`SIZE`) per snapshot, rounded up to the page size (e.g. 64MiB, 1G)")
	pos, code, done := parseCmdArgs(fl, args, stdout)
	if done {
		return code
	}
	switch {
	case len(pos) != 1:
		return usageError(fl, "need exactly one STORE directory, got %d arguments", len(pos))
	case *count < 1 || *count > 100000:
		return usageError(fl, "--count %d is not from 1 to 100000", *count)
	case mem.v == 0 || mem.v > 1<<50:
		return usageError(fl, "--memory-size %d is not from 1 byte to 1 PiB", mem.v)
	}
	store := pos[0]
	if err := sampleStore(store, *count, mem.v, stdout); err != nil {
		fmt.Fprintf(stderr, "snapfs sample: %v\n", err)
		return 1
	}
	return 0
}

// sampleStore writes vm1..vmN into store, checking first that all names
// are free so a clash writes nothing.
func sampleStore(store string, count int, memSize uint64, stdout io.Writer) error {
	if err := os.MkdirAll(store, 0o755); err != nil {
		return err
	}
	for i := 1; i <= count; i++ {
		dir := filepath.Join(store, fmt.Sprintf("vm%d", i))
		if _, err := os.Lstat(dir); err == nil {
			return fmt.Errorf("%s already exists; use an empty or new STORE", dir)
		}
	}
	now := time.Now().Truncate(time.Second)
	for i := 1; i <= count; i++ {
		s := newSample(i, count, now, memSize)
		dir := filepath.Join(store, s.name)
		if err := s.write(store, dir); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		fmt.Fprintf(stdout, "wrote %s (%s, vp_count %d, %d MiB, %d units)\n",
			dir, s.m.Architecture, s.m.VPCount, s.m.MemorySizeBytes>>20, len(s.units))
	}
	return nil
}

// write creates the sparse memory file in store (so the hard link stays on
// one filesystem), writes the snapshot, and removes the temporary name.
func (s *sample) write(store, dir string) error {
	f, err := os.CreateTemp(store, ".snapfs-sample-memory-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = f.Chmod(0o644) // like the other snapshot files, not CreateTemp's 0600
	if err == nil {
		err = s.fillMemory(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// As if written when the snapshot was taken: a later mtime means "restored
	// and run" to the status checks.
	created := s.m.CreatedAt.Time()
	if err := os.Chtimes(tmp, created, created); err != nil {
		return err
	}
	return snapshot.WriteSnapshot(dir, s.m, snapshot.EncodeState(s.units), tmp)
}

// fillMemory sizes f to the guest RAM, leaving it a hole except for a few
// pages of recognisable data at the start, middle and end.
func (s *sample) fillMemory(f *os.File) error {
	size := int64(s.m.MemorySizeBytes)
	if err := f.Truncate(size); err != nil {
		return err
	}
	page := int64(s.m.PageSize)
	for _, off := range []int64{0, size / 2 / page * page, size - page} {
		chunk := min(4096, size-off)
		if _, err := f.WriteAt(s.pattern(off, chunk), off); err != nil {
			return err
		}
	}
	return nil
}

// pattern is n bytes of text naming the snapshot and offset.
func (s *sample) pattern(off, n int64) []byte {
	line := fmt.Sprintf("snapfs sample %s guest RAM at offset %#x\n", s.name, off)
	b := make([]byte, 0, n+int64(len(line)))
	for int64(len(b)) < n {
		b = append(b, line...)
	}
	return b[:n]
}
