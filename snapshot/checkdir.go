package snapshot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// CheckDir checks the snapshot directory dir: it reads manifest.bin, indexes
// state.bin, stats memory.bin, looks for another snapshot beside dir sharing
// memory.bin's inode, and runs Check.
func CheckDir(dir string) *Report {
	var in CheckInput
	in.ManifestBytes, in.ManifestErr = ReadManifestFile(filepath.Join(dir, "manifest.bin"))
	in.State, in.StateErr = IndexStateFile(filepath.Join(dir, "state.bin"))
	fi, err := os.Stat(filepath.Join(dir, "memory.bin"))
	switch {
	case err != nil:
		in.MemoryErr = err
	case !fi.Mode().IsRegular():
		in.MemoryErr = errors.New("not a regular file")
	default:
		in.MemorySize, in.MemoryMtime = fi.Size(), fi.ModTime()
		in.MemorySharedWith = sharedMemory(dir, fi)
	}
	in.Perms = dirPerms(dir)
	return Check(in)
}

// ReadManifestFile reads a manifest.bin, refusing one larger than
// MaxManifestSize instead of reading it all.
func ReadManifestFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxManifestSize)
	}
	return b, nil
}

// sharedMemory returns the name of a sibling snapshot directory of dir whose
// memory.bin is the same file as mem, or "". Only a file with more than one
// link can be shared, so the common case costs nothing.
func sharedMemory(dir string, mem os.FileInfo) string {
	if st, ok := mem.Sys().(*syscall.Stat_t); !ok || st.Nlink < 2 {
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	parent, self := filepath.Split(abs)
	entries, err := os.ReadDir(parent)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		name := e.Name()
		if name == self || strings.HasPrefix(name, ".") || !e.IsDir() {
			continue
		}
		if fi, err := os.Stat(filepath.Join(parent, name, "memory.bin")); err == nil && os.SameFile(fi, mem) {
			return name
		}
	}
	return ""
}
