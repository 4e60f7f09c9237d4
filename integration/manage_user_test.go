package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mgUser makes a throwaway unprivileged user and returns its name, uid
// and gid.
func mgUser(t *testing.T) (string, int, int) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the unprivileged-user tests need root in CI")
		}
		t.Skip("needs root to make a user")
	}
	needTool(t, "useradd")
	needTool(t, "runuser")
	name := fmt.Sprintf("snapfsmg%d", os.Getpid()%100000)
	if out, err := exec.Command("useradd", "--no-create-home", "--shell", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	id := func(flag string) int {
		out := run(t, "id", flag, name)
		n, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return name, id("-u"), id("-g")
}

// asUser runs a command as user and returns its combined output and
// whether it succeeded.
func asUser(user string, args ...string) (string, bool) {
	out, err := exec.Command("runuser", append([]string{"-u", user, "--"}, args...)...).CombinedOutput()
	return string(out), err == nil
}

// TestManageUnprivileged: with --allow-other, an ordinary user may not
// delete or rename root's snapshots in a sticky STORE (1777), may delete
// and rename their own there, and may delete nothing once STORE is not
// writable for them.
func TestManageUnprivileged(t *testing.T) {
	user, uid, gid := mgUser(t)
	parent := t.TempDir()
	// t.TempDir and the directory it is made in are 0700: the user
	// could not reach STORE or MNT.
	os.Chmod(filepath.Dir(parent), 0o755)
	os.Chmod(parent, 0o755)
	store := filepath.Join(parent, "store")
	mnt := filepath.Join(parent, "mnt")
	for _, d := range []string{store, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(store, 0o777|os.ModeSticky) // 1777
	makeSnap(t, store, "rootsnap", snapSpec{})
	for i, n := range []string{"mine1", "mine2", "mine3"} {
		makeSnap(t, store, n, snapSpec{Manifest: goodManifest(created.Add(time.Duration(i+1) * time.Minute))})
		run(t, "chown", "-R", fmt.Sprintf("%d:%d", uid, gid), filepath.Join(store, n))
	}
	d := mountStore(t, store, mnt, "--allow-other")
	root := mgSnapDigest(t, store, "rootsnap")

	if out, ok := asUser(user, "rmdir", d.Path("rootsnap")); ok || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("user rmdir of root's snapshot: ok %v: %s", ok, out)
	}
	if out, ok := asUser(user, "mv", "-T", d.Path("rootsnap"), d.Path("stolen")); ok || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("user mv of root's snapshot: ok %v: %s", ok, out)
	}
	if mgSnapDigest(t, store, "rootsnap") != root {
		t.Errorf("root's snapshot changed")
	}
	if out, ok := asUser(user, "rmdir", d.Path("mine1")); !ok {
		t.Errorf("user rmdir of their snapshot: %s", out)
	}
	if out, ok := asUser(user, "mv", "-T", d.Path("mine2"), d.Path("renamed")); !ok {
		t.Errorf("user mv of their snapshot: %s", out)
	}
	if got := mgVisible(t, store); strings.Join(got, " ") != "mine3 renamed rootsnap" {
		t.Errorf("STORE holds %v", got)
	}
	mgLogged(t, d, "deleted snapshot", `name="mine1"`, fmt.Sprintf("uid=%d", uid))
	mgLogged(t, d, "renamed snapshot", `name="mine2"`, `to="renamed"`, fmt.Sprintf("uid=%d", uid))

	// STORE no longer writable by the user: their own snapshot stays.
	os.Chmod(store, 0o755)
	deadline := time.Now().Add(visible + 5*time.Second)
	for {
		fi, err := os.Stat(d.Mnt)
		if err == nil && fi.Mode().Perm() == 0o755 && fi.Mode()&os.ModeSticky == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("root mode does not follow STORE: %v %v", fi.Mode(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out, ok := asUser(user, "rmdir", d.Path("mine3")); ok || !strings.Contains(out, "Permission denied") {
		t.Errorf("user rmdir with STORE 0755: ok %v: %s", ok, out)
	}
	if out, ok := asUser(user, "mv", "-T", d.Path("mine3"), d.Path("x")); ok || !strings.Contains(out, "Permission denied") {
		t.Errorf("user mv with STORE 0755: ok %v: %s", ok, out)
	}
	if got := mgVisible(t, store); strings.Join(got, " ") != "mine3 renamed rootsnap" {
		t.Errorf("STORE holds %v", got)
	}
}
