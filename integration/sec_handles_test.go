package integration

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// secPread reads n bytes at 0 through f, from the daemon, not from the
// kernel's page cache.
func secPread(t *testing.T, what string, f *os.File, n int) string {
	t.Helper()
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	b := make([]byte, n)
	k, err := f.ReadAt(b, 0)
	if k != n {
		t.Errorf("%s: read %d bytes: %v", what, k, err)
	}
	return string(b[:k])
}

// A handle on a staged file stays bound to the file it opened: renaming
// another file over its name, removing it, or giving its name to a new
// file changes nothing it reads or writes, and fstat shows st_nlink 0.
func TestSecHandleStaysBound(t *testing.T) {
	secRoot(t)
	for _, flags := range [][]string{nil, {"--no-passthrough"}} {
		t.Run(fmt.Sprint("flags", flags), func(t *testing.T) {
			d := nwMount(t, "", append(flags, "--commit-delay", "0")...)
			if err := os.Mkdir(d.Path("new", "x"), 0o755); err != nil {
				t.Fatal(err)
			}
			a, b := d.Path("new", "x", "a"), d.Path("new", "x", "b")
			open := func(t *testing.T, content string) *os.File {
				writeFile(t, a, []byte(content))
				f, err := os.OpenFile(a, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				return f
			}
			unlinked := func(t *testing.T, what string, f *os.File) {
				t.Helper()
				var st unix.Stat_t
				if err := unix.Fstat(int(f.Fd()), &st); err != nil {
					t.Errorf("%s: fstat: %v", what, err)
				} else if st.Nlink != 0 {
					t.Errorf("%s: fstat shows st_nlink %d, want 0", what, st.Nlink)
				}
			}

			t.Run("renamed over", func(t *testing.T) {
				f := open(t, "old a\n")
				ro, err := os.Open(a)
				if err != nil {
					t.Fatal(err)
				}
				defer ro.Close()
				writeFile(t, b, []byte("the b\n"))
				if err := os.Rename(b, a); err != nil {
					t.Fatalf("mv new/x/b new/x/a: %v", err)
				}
				if got := secPread(t, "after mv b a", f, 6); got != "old a\n" {
					t.Errorf("the handle on a reads %q after mv b a, want the old a", got)
				}
				if got := secPread(t, "read-only, after mv b a", ro, 6); got != "old a\n" {
					t.Errorf("the read-only handle on a reads %q after mv b a, want the old a", got)
				}
				if got := string(read(t, a)); got != "the b\n" {
					t.Errorf("new/x/a reads %q, want b's contents", got)
				}
				unlinked(t, "after mv b a", f)
				os.Remove(a)
			})

			t.Run("removed", func(t *testing.T) {
				f := open(t, "first\n")
				if err := os.Remove(a); err != nil {
					t.Fatalf("rm new/x/a: %v", err)
				}
				if got := secPread(t, "after rm", f, 6); got != "first\n" {
					t.Errorf("the handle reads %q after rm, want its file", got)
				}
				if _, err := f.WriteAt([]byte("again\n"), 0); err != nil {
					t.Errorf("write through the handle after rm: %v", err)
				}
				if got := secPread(t, "after rm and write", f, 6); got != "again\n" {
					t.Errorf("the handle reads %q after its write, want %q", got, "again\n")
				}
				unlinked(t, "after rm", f)
				writeFile(t, a, []byte("other\n"))
				if got := secPread(t, "after a new a", f, 6); got != "again\n" {
					t.Errorf("the handle reads %q once another file is named a, want its own file", got)
				}
				if got := string(read(t, a)); got != "other\n" {
					t.Errorf("the new a reads %q", got)
				}
				unlinked(t, "after a new a", f)
			})
		})
	}
}
