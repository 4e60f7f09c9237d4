package fs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// testOwner is a user other than root who owns the files of these tests.
func testOwner() int {
	if os.Getuid() == 0 {
		return 1234
	}
	return os.Getuid()
}

// stagedFile makes a staged file of uid in new/<dir>/ with size bytes of
// data and returns it open for writing.
func stagedFile(t *testing.T, store, dir, name string, size int) *os.File {
	t.Helper()
	p := filepath.Join(store, stagingDirName, dir)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(p, name), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		if err := f.Chown(testOwner(), testOwner()); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// put writes n bytes at off through c.
func put(c *charged, f *os.File, off, n int64) error {
	return c.write(off, n, func() error {
		_, err := unix.Pwrite(int(f.Fd()), make([]byte, n), off)
		return err
	})
}

func TestByteLimit(t *testing.T) {
	s, store := newTestStager(t)
	const k = 1 << 10
	l := newByteLimit(1024*k, s)
	old := stagedFile(t, store, "a", "state.bin", 256*k)
	f := stagedFile(t, store, "a", "memory.bin", 0)
	c, err := l.open(int(f.Fd()), false)
	if err != nil || c == nil {
		t.Fatalf("open: %v, %v", c, err)
	}
	defer c.close()

	// 256 KiB found by the scan, 512 KiB written: 512 more would pass.
	if err := put(c, f, 0, 512*k); err != nil {
		t.Fatalf("512 KiB under the limit: %v", err)
	}
	if err := put(c, f, 512*k, 512*k); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("past the limit: %v, want EDQUOT", err)
	}
	// Overwriting allocates nothing.
	if err := put(c, f, 0, 512*k); err != nil {
		t.Errorf("overwriting at the limit: %v", err)
	}
	// A removal through the mount makes room at once.
	if err := os.Remove(old.Name()); err != nil {
		t.Fatal(err)
	}
	l.removedSome()
	if err := put(c, f, 512*k, 256*k); err != nil {
		t.Errorf("after removing 256 KiB: 256 KiB more: %v", err)
	}

	// An open clone counts; closed, it does not.
	clone, err := os.OpenFile(store, unix.O_TMPFILE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer clone.Close()
	if os.Getuid() == 0 {
		clone.Chown(testOwner(), testOwner())
	}
	cc, err := l.open(int(clone.Fd()), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := put(cc, clone, 0, 128*k); err != nil {
		t.Fatalf("a 128 KiB clone: %v", err)
	}
	if err := put(c, f, 768*k, 192*k); !errors.Is(err, syscall.EDQUOT) {
		t.Errorf("768 KiB staged and a 128 KiB clone: 192 KiB more: %v, want EDQUOT", err)
	}
	cc.close()
	if err := put(c, f, 768*k, 192*k); err != nil {
		t.Errorf("the clone closed: 192 KiB more: %v", err)
	}

	// Without a limit nothing is counted.
	if c, err := newByteLimit(0, s).open(int(f.Fd()), false); c != nil || err != nil {
		t.Errorf("no limit: %v, %v", c, err)
	}
}

func TestHoleBytes(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const b = 64 << 10
	// data [0,b), hole [b,3b), data [3b,4b)
	f.WriteAt(make([]byte, b), 0)
	f.WriteAt([]byte{1}, 3*b)
	f.WriteAt(make([]byte, b-1), 3*b+1)
	fd := int(f.Fd())
	for _, c := range []struct{ off, n, want int64 }{
		{0, b, 0},
		{0, 4 * b, 2 * b},
		{b / 2, b, b / 2},
		{3 * b, 2 * b, b}, // past the end
		{8 * b, b, b},
	} {
		if got := holeBytes(fd, c.off, c.n); got != c.want {
			t.Errorf("holeBytes(%d, %d) = %d, want %d", c.off, c.n, got, c.want)
		}
	}
}
