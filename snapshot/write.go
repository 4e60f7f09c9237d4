package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// StagingPrefix starts the names of the hidden directories WriteSnapshot
// builds snapshots in. Hidden names are never shown as snapshots.
const StagingPrefix = ".snapfs-write-"

// WriteSnapshot writes a snapshot atomically into dir, which must not
// exist: it builds manifest.bin (m.Encode()), state.bin and memory.bin in a
// hidden staging directory beside dir and publishes it with Publish.
// memory.bin is a hard link to memoryPath (after resolving symlinks, as
// OpenVMM links the canonical path), never a copy, so memoryPath must be on
// the same filesystem as dir. On failure nothing is left behind and
// memoryPath is untouched.
func WriteSnapshot(dir string, m *Manifest, state []byte, memoryPath string) (err error) {
	if _, err := os.Lstat(dir); err == nil {
		return &fs.PathError{Op: "write snapshot", Path: dir, Err: syscall.EEXIST}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	staging, err := os.MkdirTemp(filepath.Dir(dir), StagingPrefix)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(staging) // removes only our link, not memoryPath
		}
	}()
	if err := os.Chmod(staging, 0o755); err != nil { // MkdirTemp makes 0700
		return err
	}
	if err := WriteFileSync(filepath.Join(staging, "manifest.bin"), m.Encode()); err != nil {
		return err
	}
	if err := WriteFileSync(filepath.Join(staging, "state.bin"), state); err != nil {
		return err
	}
	if err := linkMemory(memoryPath, filepath.Join(staging, "memory.bin"), dir); err != nil {
		return err
	}
	return Publish(staging, dir)
}

// linkMemory hard-links the memory backing file to dst, unless dst already
// is that file.
func linkMemory(memoryPath, dst, dir string) error {
	src, err := filepath.EvalSymlinks(memoryPath)
	if err != nil {
		return fmt.Errorf("memory backing file: %w", err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("memory backing file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("memory backing file %s is not a regular file", memoryPath)
	}
	if cur, err := os.Stat(dst); err == nil && os.SameFile(cur, fi) {
		return nil
	}
	err = os.Link(src, dst)
	if errors.Is(err, syscall.EXDEV) {
		return fmt.Errorf("memory backing file (%s) must be on the same filesystem as the snapshot directory (%s); keep the backing file on the snapshot's filesystem: %w",
			memoryPath, dir, err)
	}
	return err
}

// WriteFileSync creates path (which must not exist) with data and fsyncs it.
func WriteFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
