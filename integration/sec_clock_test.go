package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// secFarFuture is the attacker's created_at of issue 18.
var secFarFuture = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// TestSecFutureCreatedAtRefused: a staged created_at more than the
// allowed skew after now, given by manifest.bin or by manifest.json, is
// refused on mv by an ordinary user with a status naming the file, the
// field, the value and the allowed maximum; nothing is published,
// latest does not move, and `snapfs validate` fails on such a snapshot.
func TestSecFutureCreatedAtRefused(t *testing.T) {
	e := secSetup(t, 0o777|os.ModeSticky)
	u := secNewUser(t, e.probe)
	makeSnap(t, e.store, "vm1", snapSpec{})
	d := e.mount(t, "--commit-delay", "0")
	if got := readlink(t, d.Path("latest")); got != "vm1" {
		t.Fatalf("latest is %q, want vm1", got)
	}
	for _, c := range []struct {
		name, file string
		at         time.Time
	}{
		{"bin", "manifest.bin", secFarFuture},
		{"json", "manifest.json", secFarFuture},
		{"skew", "manifest.bin", time.Now().Add(10 * time.Minute)},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := filepath.Join(e.dir, "src-"+c.name)
			m := goodManifest(c.at)
			makeSnap(t, e.dir, "src-"+c.name, snapSpec{Manifest: m})
			if c.file == "manifest.json" {
				os.Remove(filepath.Join(src, "manifest.bin"))
				writeFile(t, filepath.Join(src, "manifest.json"), m.JSON())
			}
			if c.file == "manifest.bin" { // validate reads STORE's files only
				r := snapfs(t, "validate", src)
				if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "created_at") {
					t.Errorf("snapfs validate of a future snapshot: exit %d\n%s%s", r.code, r.stdout, r.stderr)
				}
			}
			name := "f" + c.name
			line := `mkdir "$1/new/$3" && cp "$2"/* "$1/new/$3/" && mv "$1/new/$3" "$1/$3"`
			r := u.Run(t, "sh", "-c", line, "sh", d.Path(), src, name)
			if r.code == 0 {
				t.Fatalf("mv of a snapshot dated %s succeeded", c.at)
			}
			wantAbsent(t, filepath.Join(e.store, name))
			st := u.Run(t, "cat", d.Path("new", name, "status"))
			want := fmt.Sprintf("%s: created_at %s is later than the allowed maximum", c.file, c.at.UTC().Format(time.RFC3339Nano))
			if !strings.Contains(st.stdout, "error: ") || !strings.Contains(st.stdout, want) || !strings.Contains(st.stdout, "(now plus 5m0s)") {
				t.Errorf("new/%s/status:\n%s\nwant an error with %q", name, st.stdout, want)
			}
			if got := readlink(t, d.Path("latest")); got != "vm1" {
				t.Errorf("latest is %q, want vm1", got)
			}
		})
	}
}

// TestSecFutureSnapshotInStore: a snapshot placed straight into STORE
// with a created_at in the future is a status error and never latest.
func TestSecFutureSnapshotInStore(t *testing.T) {
	e := secSetup(t, 0o777|os.ModeSticky)
	makeSnap(t, e.store, "vm1", snapSpec{})
	d := e.mount(t)
	if got := readlink(t, d.Path("latest")); got != "vm1" {
		t.Fatalf("latest is %q, want vm1", got)
	}
	makeSnap(t, e.store, "evil", snapSpec{Manifest: goodManifest(secFarFuture), MemMtime: time.Now()})
	mgWaitShown(t, d, "evil")
	st := string(read(t, d.Path("evil", "status")))
	if !strings.Contains(st, "error: manifest.bin: created_at 9999-12-31T00:00:00Z is later than the allowed maximum") {
		t.Errorf("evil/status:\n%s", st)
	}
	if got := readlink(t, d.Path("latest")); got != "vm1" {
		t.Errorf("latest is %q after a snapshot dated 9999 appeared, want vm1", got)
	}
}

// TestSecPrunePerOwner: root's prune keeps by each rule per owner (the
// uid of the snapshot directory), so an owner's many and future-dated
// snapshots never push out another owner's; a snapshot dated in the
// future is neither kept nor removed by a rule, and reported.
func TestSecPrunePerOwner(t *testing.T) {
	const victim, attacker = 61001, 61002
	for _, c := range []struct {
		policy []string
		keep   []string
	}{
		{[]string{"--keep-last", "3"}, []string{"a3", "a4", "a5", "v3", "v4", "v5"}},
		{[]string{"--keep-daily", "2"}, []string{"a0", "a5", "v4", "v5"}}, // a0: the oldest, counts left
		{[]string{"--keep-weekly", "1"}, []string{"a5", "v5"}},
	} {
		t.Run(c.policy[0], func(t *testing.T) {
			store := t.TempDir()
			now := time.Now().UTC().Truncate(time.Second)
			own := func(name string, uid int, at time.Time) {
				dir := makeSnap(t, store, name, snapSpec{Manifest: goodManifest(at)})
				run(t, "chown", "-R", fmt.Sprintf("%d:%d", uid, uid), dir)
			}
			for i := 0; i < 6; i++ { // a day apart, weeks ago
				own(fmt.Sprint("v", i), victim, now.AddDate(0, 0, -30+i))
			}
			noon := time.Date(now.Year(), now.Month(), now.Day()-2, 12, 0, 0, 0, time.UTC)
			for i := 0; i < 6; i++ { // newer, all on one day
				own(fmt.Sprint("a", i), attacker, noon.Add(time.Duration(i)*time.Minute))
			}
			own("afuture", attacker, secFarFuture)
			r := runPrune(t, append(c.policy, "--json", store)...)
			if r.code != 0 {
				t.Fatalf("prune: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			var rep struct {
				Skipped []struct {
					Name    string
					Owner   uint32
					Reasons []string
				}
			}
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("--json: %v\n%s", err, r.stdout)
			}
			want := append(append([]string{}, c.keep...), "afuture")
			sort.Strings(want)
			if got := mgVisible(t, store); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%v left %v, want %v\n%s", c.policy, got, want, r.stdout)
			}
			if len(rep.Skipped) != 1 || rep.Skipped[0].Name != "afuture" || rep.Skipped[0].Owner != attacker ||
				len(rep.Skipped[0].Reasons) != 1 || !strings.Contains(rep.Skipped[0].Reasons[0], "in the future") {
				t.Errorf("skipped: %+v, want afuture, in the future", rep.Skipped)
			}
		})
	}
}

// TestSecSkewedSnapshotComesDue: a snapshot dated a little past the
// allowed skew is a status error and not latest until its time comes;
// then it is valid and latest, with no change to STORE.
func TestSecSkewedSnapshotComesDue(t *testing.T) {
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	d := mountStore(t, store, "")
	if got := readlink(t, d.Path("latest")); got != "vm1" {
		t.Fatalf("latest is %q, want vm1", got)
	}
	due := time.Now().Add(5*time.Minute + 3*time.Second)
	makeSnap(t, store, "soon", snapSpec{Manifest: goodManifest(due), MemMtime: time.Now()})
	mgWaitShown(t, d, "soon")
	if st := string(read(t, d.Path("soon", "status"))); !strings.Contains(st, "is later than the allowed maximum") {
		t.Errorf("soon/status before its time:\n%s", st)
	}
	if got := readlink(t, d.Path("latest")); got != "vm1" {
		t.Errorf("latest is %q before soon's time, want vm1", got)
	}
	dgWait(t, "soon becoming latest", func() bool {
		got, _ := os.Readlink(d.Path("latest"))
		return got == "soon"
	})
	if st := string(read(t, d.Path("soon", "status"))); st != "ok\n" {
		t.Errorf("soon/status once due:\n%s", st)
	}
}
