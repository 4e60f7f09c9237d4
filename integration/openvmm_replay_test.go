package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// The OpenVMM replay: the exact syscall order OpenVMM uses on a snapshot
// directory (openvmm_helpers/src/snapshot.rs and the memory backing file
// code, 2026-08), so the tests exercise the mount as OpenVMM does.

// vmRAM is a guest's RAM mapped from its backing file, as OpenVMM holds it
// until the VM exits.
type vmRAM struct {
	f   *os.File
	mem []byte
}

// close unmaps and closes, as the VM's exit does.
func (r *vmRAM) close() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
	r.f.Close()
}

// mapShared maps all of f read-write and shared, then asks for huge pages
// (whose failure OpenVMM only logs).
func mapShared(f *os.File, size int64) (*vmRAM, error) {
	mem, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mmap: %w", err)
	}
	unix.Madvise(mem, unix.MADV_HUGEPAGE)
	return &vmRAM{f: f, mem: mem}, nil
}

// openvmmRestore is `openvmm --restore-snapshot dir`: read manifest.bin,
// then state.bin, check the manifest, open memory.bin O_RDWR, check its
// size, map it shared.
func openvmmRestore(dir string) (*snapshot.Manifest, *vmRAM, error) {
	mb, err := os.ReadFile(filepath.Join(dir, "manifest.bin"))
	if err != nil {
		return nil, nil, fmt.Errorf("failed to read manifest.bin: %w", err)
	}
	m, err := snapshot.DecodeManifest(mb)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to decode snapshot manifest: %w", err)
	}
	if _, err := os.ReadFile(filepath.Join(dir, "state.bin")); err != nil {
		return nil, nil, fmt.Errorf("failed to read state.bin: %w", err)
	}
	if m.Version != 1 {
		return nil, nil, fmt.Errorf("snapshot manifest version %d is not supported", m.Version)
	}
	f, err := os.OpenFile(filepath.Join(dir, "memory.bin"), os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if uint64(fi.Size()) != m.MemorySizeBytes {
		f.Close()
		return nil, nil, fmt.Errorf("memory.bin size (%d bytes) doesn't match manifest", fi.Size())
	}
	ram, err := mapShared(f, fi.Size())
	return m, ram, err
}

// openvmmStart is a VM start with `--memory size=S,file=path`: open or
// create the backing file, size it when empty, map it shared.
func openvmmStart(path string, size int64) (*vmRAM, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	switch {
	case fi.Size() == 0:
		if err := f.Truncate(size); err != nil {
			f.Close()
			return nil, err
		}
	case fi.Size() != size:
		f.Close()
		return nil, fmt.Errorf("memory backing file size %d doesn't match %d", fi.Size(), size)
	}
	return mapShared(f, size)
}

// openvmmSave is `save-snapshot dir` of a paused VM whose RAM is backed by
// backing: fsync the backing file through a read-only fd, create dir,
// write manifest.bin then state.bin (no temp file, no fsync), and
// hard-link the backing file in as memory.bin unless it already is it.
func openvmmSave(dir string, m *snapshot.Manifest, state []byte, backing string) error {
	b, err := os.Open(backing)
	if err != nil {
		return err
	}
	err = b.Sync()
	b.Close()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.bin"), m.Encode(), 0o666); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "state.bin"), state, 0o666); err != nil {
		return err
	}
	src, err := filepath.EvalSymlinks(backing)
	if err != nil {
		return err
	}
	dst := filepath.Join(dir, "memory.bin")
	if cur, err := os.Stat(dst); err == nil {
		sfi, err := os.Stat(src)
		if err != nil {
			return err
		}
		if os.SameFile(cur, sfi) {
			return nil
		}
		if err := os.Remove(dst); err != nil {
			return err
		}
	}
	if err := os.Link(src, dst); err != nil {
		return fmt.Errorf("failed to hard-link %s -> %s: %w", src, dst, err)
	}
	return nil
}

// needTool fails in CI and skips elsewhere when a command is missing.
func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI (make test installs it)", name)
	}
	t.Skipf("%s not installed", name)
}
