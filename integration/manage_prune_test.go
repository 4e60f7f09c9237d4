package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// pruneStore writes 50 valid snapshots s00..s49 over 90 days
// (2025-03-03 to 2025-05-28, some days holding two), the schedule of
// snapshot/prune_test.go, plus things prune must never touch.
func pruneStore(t *testing.T) string {
	t.Helper()
	store := t.TempDir()
	base := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	day := 0
	for i := 0; i < 50; i++ {
		if i%5 != 4 {
			day = i * 90 / 50
		}
		at := base.AddDate(0, 0, day).Add(time.Duration((i*7)%24)*time.Hour + time.Duration(i)*time.Minute)
		makeSnap(t, store, fmt.Sprintf("s%02d", i), snapSpec{Manifest: goodManifest(at)})
	}
	// Invalid (no memory.bin) and very old: never removed.
	makeSnap(t, store, "broken", snapSpec{Manifest: goodManifest(base.AddDate(-1, 0, 0)), NoMemory: true})
	os.Mkdir(filepath.Join(store, "notsnap"), 0o755)
	os.MkdirAll(filepath.Join(store, ".snapfs-staging", "wip"), 0o755)
	return store
}

// prune runs snapfs prune in UTC.
func runPrune(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"prune"}, args...)...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func sNames(idx ...int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, fmt.Sprintf("s%02d", i))
	}
	sort.Strings(out)
	return out
}

// TestManagePrune runs prune on 50 snapshots over 90 days: --dry-run
// changes nothing and reports what a real run then does, exactly
// restic's outcome (counted in snapshot/prune_test.go); a mount on the
// store follows; staging, invalid snapshots and other directories stay.
func TestManagePrune(t *testing.T) {
	t.Parallel()
	store := pruneStore(t)
	d := mountStore(t, store, "")
	policy := []string{"--keep-last", "3", "--keep-daily", "7", "--keep-weekly", "4"}
	// last 3: s49 s48 s47; daily 7: s49 s47 s46 s45 s44 s42 s41; weekly 4: s49 s46 s42 s39.
	keep := sNames(39, 41, 42, 44, 45, 46, 47, 48, 49)

	before := storeDigest(t, store)
	r := runPrune(t, append(policy, "--dry-run", "--json", store)...)
	if r.code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if after := storeDigest(t, store); after != before {
		t.Errorf("--dry-run changed STORE")
	}
	var rep struct {
		DryRun bool `json:"dry_run"`
		Keep   []struct {
			Name    string
			Reasons []string
		}
		Remove  []struct{ Name, Error string }
		Skipped []struct{ Name string }
		Failed  int
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	var kept []string
	for _, k := range rep.Keep {
		kept = append(kept, k.Name)
		if len(k.Reasons) == 0 {
			t.Errorf("%s kept without a reason", k.Name)
		}
	}
	sort.Strings(kept)
	if !rep.DryRun || !slices.Equal(kept, keep) || len(rep.Remove) != 41 || len(rep.Skipped) != 1 || rep.Skipped[0].Name != "broken" {
		t.Errorf("dry run report: dry %v keep %v, %d to remove, skipped %v", rep.DryRun, kept, len(rep.Remove), rep.Skipped)
	}

	r = runPrune(t, append(policy, store)...)
	if r.code != 0 {
		t.Fatalf("prune: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "keep    2025-05-28T07:49:00Z  s49  (last snapshot, daily snapshot, weekly snapshot)") ||
		!strings.Contains(r.stdout, "9 kept, 41 removed, 1 skipped") {
		t.Errorf("prune output:\n%s", r.stdout)
	}
	if n := strings.Count(r.stderr, "deleted snapshot"); n != 41 {
		t.Errorf("%d log lines of deletes, want 41:\n%s", n, r.stderr)
	}
	want := append(slices.Clone(keep), "broken", "notsnap")
	sort.Strings(want)
	if got := mgVisible(t, store); !slices.Equal(got, want) {
		t.Errorf("STORE holds %v\nwant %v", got, want)
	}
	if ents, _ := os.ReadDir(filepath.Join(store, trashDir)); len(ents) != 0 {
		t.Errorf("trash not emptied: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(store, ".snapfs-staging", "wip")); err != nil {
		t.Errorf("staging touched: %v", err)
	}
	// The mount follows.
	deadline := time.Now().Add(visible + 5*time.Second)
	for len(names(t, d.Mnt)) != len(keep)+3 { // + broken, latest, new
		if time.Now().After(deadline) {
			t.Fatalf("mount shows %v", names(t, d.Mnt))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A second run has nothing left to do; no policy removes nothing.
	if r := runPrune(t, append(policy, store)...); r.code != 0 || !strings.Contains(r.stdout, "9 kept, 0 removed") {
		t.Errorf("second run: %d\n%s", r.code, r.stdout)
	}
	if r := runPrune(t, store); r.code != 0 || !strings.Contains(r.stderr, "nothing is removed") || len(mgVisible(t, store)) != len(want) {
		t.Errorf("empty policy: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runPrune(t, "--keep-within", "1w", store); r.code != 2 {
		t.Errorf("--keep-within 1w: exit %d, want 2", r.code)
	}
}

// TestManagePruneWithin checks --keep-within (from the newest snapshot)
// and a failing removal: exit 1, and what was removed stays removed.
func TestManagePruneWithin(t *testing.T) {
	t.Parallel()
	store := pruneStore(t)
	r := runPrune(t, "--keep-within", "10d", "--dry-run", store)
	if r.code != 0 || !strings.Contains(r.stdout, "7 kept, 43 to remove") {
		t.Fatalf("dry run: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A trash that is a symlink is moved aside, never followed, and a
	// new one made: the removals succeed.
	elsewhere := t.TempDir()
	os.Symlink(elsewhere, filepath.Join(store, trashDir))
	r = runPrune(t, "--keep-within", "10d", store)
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("prune followed the trash symlink: %v", ents)
	}
	if matches, _ := filepath.Glob(filepath.Join(store, trashDir+".refused-*")); len(matches) != 1 {
		t.Errorf("the symlinked trash was not moved aside: %v", matches)
	}
	if r.code != 0 {
		t.Fatalf("prune: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	want := append(sNames(43, 44, 45, 46, 47, 48, 49), "broken", "notsnap")
	sort.Strings(want)
	if got := mgVisible(t, store); !slices.Equal(got, want) {
		t.Errorf("STORE holds %v, want %v", got, want)
	}
}
