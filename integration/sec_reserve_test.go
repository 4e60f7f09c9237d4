package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Users pay for their own writes (issue 18, finding 5): the kernel's
// writes to staged files and restore clones, passthrough or served by the
// daemon, are made with the writer's filesystem credentials, so ext4's
// root-reserved blocks stay root's. Quotas would be the other half, but
// the test kernel has no CONFIG_QUOTA: that staged files and clones are
// owned by the user (what quotas charge) is TestSecUserPaysClone's and
// the staging tests' part.

// reserveSetup makes an ext4 STORE with 20% of its blocks reserved for
// root, a published snapshot "vm" whose memory.bin is all hole (a clone
// of it allocates nothing), a user, and fills the filesystem as that user
// until only the reserve is left. It returns the mount (flags added) and
// the user, who has made the staging directory new/x.
func reserveSetup(t *testing.T, flags ...string) (*secEnv, *daemon, *secUser) {
	t.Helper()
	secRequireTool(t, "useradd", "userdel", "runuser")
	requireFUSE(t)
	dir := secDir(t)
	store := ext4Store(t, dir, "store", 64<<20, 20)
	if err := os.Chmod(store, 0o1777); err != nil {
		t.Fatal(err)
	}
	e := &secEnv{dir: dir, store: store, probe: secBuildProbe(t, dir)}
	u := secNewUser(t, e.probe)
	m := goodManifest(created)
	snap := makeSnap(t, store, "vm", snapSpec{Manifest: m, NoMemory: true})
	mem := filepath.Join(snap, "memory.bin")
	writeFile(t, mem, nil)
	if err := os.Truncate(mem, int64(m.MemorySizeBytes)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(mem, m.CreatedAt.Time(), m.CreatedAt.Time()); err != nil {
		t.Fatal(err)
	}
	secChmodSnap(t, snap, 0o755, 0o644)
	d := e.mount(t, append([]string{"--commit-delay", "0"}, flags...)...)
	u.Want(t, "mkdir", d.Path("new", "x"), 0)

	if errno, _ := u.Do(t, "fill", filepath.Join(store, "filler"), strconv.Itoa(1<<30)); errno != syscall.ENOSPC {
		t.Fatalf("filling STORE as %s: %s, want ENOSPC", u.Name, secErr(errno))
	}
	var st unix.Statfs_t
	if err := unix.Statfs(store, &st); err != nil {
		t.Fatal(err)
	}
	avail, free := int64(st.Bavail)*st.Bsize, storeFree(t, store)
	if avail > 64<<10 || free < 8<<20 {
		t.Fatalf("after the fill: %d bytes available to users, %d free; want none and the reserve", avail, free)
	}
	return e, d, u
}

// reserveStaysRoots checks that a user's staged write (to a file owned by
// the user) and a clone's write and fallocate stop at ENOSPC without
// taking the reserve, and that root's own write still finds it.
func reserveStaysRoots(t *testing.T, e *secEnv, d *daemon, u *secUser) {
	t.Helper()
	reserve := storeFree(t, e.store)
	taken := func(what string) {
		t.Helper()
		if now := storeFree(t, e.store); now < reserve-1<<20 {
			t.Errorf("%s took %d bytes of root's reserve", what, reserve-now)
		}
	}
	if errno, n := u.Do(t, "fill", d.Path("new", "x", "memory.bin"), strconv.Itoa(16<<20)); errno != syscall.ENOSPC {
		t.Errorf("as %s: 16 MiB written into new/x/memory.bin: %s (wrote %s), want ENOSPC", u.Name, secErr(errno), n)
	}
	taken("a staged write")
	var st unix.Stat_t
	staged := filepath.Join(e.store, ".snapfs-staging", "x", "memory.bin")
	if err := unix.Stat(staged, &st); err != nil || st.Uid != u.UID {
		t.Errorf("the staged file in STORE: owner %d (%v), want %s's uid %d", st.Uid, err, u.Name, u.UID)
	}
	if errno, n := u.Do(t, "fill", d.Path("vm", "memory.bin"), strconv.Itoa(16<<20)); errno != syscall.ENOSPC {
		t.Errorf("as %s: 16 MiB written to a restore clone of vm/memory.bin: %s (wrote %s), want ENOSPC", u.Name, secErr(errno), n)
	}
	taken("a clone's write")
	if errno, _ := u.Do(t, "allocate", d.Path("vm", "memory.bin"), strconv.Itoa(16<<20)); errno != syscall.ENOSPC {
		t.Errorf("as %s: fallocate of 16 MiB on a restore clone of vm/memory.bin: %s, want ENOSPC", u.Name, secErr(errno))
	}
	taken("a clone's fallocate")
	f, err := os.Create(filepath.Join(e.store, "root-file"))
	if err == nil {
		_, err = f.Write(make([]byte, 4<<20))
		if err == nil {
			err = f.Sync()
		}
		f.Close()
	}
	if err != nil {
		t.Errorf("root's own 4 MiB write into STORE: %v: the reserve is gone", err)
	}
}

// storeFree is the free bytes of the filesystem at dir, root's reserve
// included.
func storeFree(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bfree) * st.Bsize
}

// TestSecReserveStaysRoots: with passthrough, the kernel writes a staged
// file with the credentials go-fuse's backing registration recorded; the
// daemon serves the clone's fallocate.
func TestSecReserveStaysRoots(t *testing.T) {
	e, d, u := reserveSetup(t, "--debug")
	if !strings.Contains(d.Log(), "staged_passthrough=true") {
		t.Fatalf("the daemon does not use passthrough here:\n%s", d.Log())
	}
	reserveStaysRoots(t, e, d, u)
	// The staged write never reached the daemon: the passthrough path
	// itself stopped at the reserve.
	for _, l := range strings.Split(d.Log(), "\n") {
		if strings.Contains(l, `op="WRITE"`) {
			t.Fatalf("a write reached the daemon, so passthrough was not tested: %s", l)
		}
	}
}

// TestSecReserveStaysRootsNoPassthrough: every write is the daemon's.
func TestSecReserveStaysRootsNoPassthrough(t *testing.T) {
	e, d, u := reserveSetup(t, "--no-passthrough")
	reserveStaysRoots(t, e, d, u)
}
