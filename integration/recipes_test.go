package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snapfs/snapfs/snapshot"
)

// The README's daily tasks are fenced blocks tagged ```sh recipe=NAME.
// TestRecipes runs every one of them, exactly as written, with bash
// -euo pipefail against real mounts, and fails for a block it has no run
// for, so README and behaviour cannot drift apart.

// recipe is one tagged block of README.md.
type recipe struct {
	name, body string
	line       int // of its opening fence
}

// readRecipes extracts the recipe blocks of README.md.
func readRecipes(t *testing.T) map[string]recipe {
	t.Helper()
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]recipe{}
	var cur *recipe
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && strings.TrimSpace(line) == "```":
			if _, dup := out[cur.name]; dup {
				t.Errorf("README.md:%d: a second recipe %q", cur.line, cur.name)
			}
			out[cur.name] = *cur
			cur = nil
		case cur != nil:
			cur.body += line + "\n"
		case strings.HasPrefix(line, "```"):
			for _, f := range strings.Fields(strings.TrimPrefix(line, "```")) {
				if name, ok := strings.CutPrefix(f, "recipe="); ok {
					cur = &recipe{name: name, line: n}
				}
			}
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: recipe %q has no closing fence", cur.line, cur.name)
	}
	if len(out) == 0 {
		t.Fatal("README.md has no ```sh recipe=NAME blocks")
	}
	return out
}

// recipeRun runs recipes in an environment naming STORE, MNT, NAME and
// BACKUP, with the built snapfs first on PATH and the clients' passwords
// and caches set as an operator would.
type recipeRun struct {
	t      *testing.T
	all    map[string]recipe
	ran    map[string]bool
	env    []string
	d      *daemon
	backup string
}

func (rr *recipeRun) with(t *testing.T, d *daemon, name, backup string) *recipeRun {
	home := t.TempDir()
	env := append(os.Environ(),
		"STORE="+d.Store, "MNT="+d.Mnt, "NAME="+name, "BACKUP="+backup,
		"PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"),
		"TZ=UTC", "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"),
		"RESTIC_PASSWORD=snapfs-recipes", "BORG_PASSPHRASE=snapfs-recipes",
		"BORG_BASE_DIR="+filepath.Join(home, "borg"))
	return &recipeRun{t: t, all: rr.all, ran: rr.ran, env: env, d: d, backup: backup}
}

// body is the text of a recipe, marked as run.
func (rr *recipeRun) body(name string) string {
	rr.t.Helper()
	r, ok := rr.all[name]
	if !ok {
		rr.t.Fatalf("README.md has no recipe %q, which the test runs", name)
	}
	rr.ran[name] = true
	return r.body
}

// sh runs script as the recipes run, returning its output and error.
func (rr *recipeRun) sh(script string) (string, error) {
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Env, cmd.Dir = rr.env, rr.t.TempDir()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// run runs the recipe name and fails the test if it fails.
func (rr *recipeRun) run(name string) string {
	rr.t.Helper()
	out, err := rr.sh(rr.body(name))
	if err != nil {
		rr.t.Fatalf("recipe %s (README.md:%d): %v\n%s\nlog:\n%s", name, rr.all[name].line, err, out, rr.d.Log())
	}
	return out
}

// recipeSource mounts (default flags) a store holding one sample
// snapshot, vm1, of mem memory, with a digest record, and returns the
// mount and a copy of vm1 made before, to compare restores with.
func recipeSource(t *testing.T, mem string) (*daemon, string) {
	t.Helper()
	store := t.TempDir()
	if r := snapfs(t, "sample", "--count", "1", "--memory-size", mem, store); r.code != 0 {
		t.Fatalf("sample: %s", r.stderr)
	}
	if r := snapfs(t, "digest", filepath.Join(store, "vm1")); r.code != 0 {
		t.Fatalf("digest: %s", r.stderr)
	}
	pristine := filepath.Join(t.TempDir(), "vm1")
	run(t, "cp", "-a", "--sparse=always", filepath.Join(store, "vm1"), pristine)
	return mountStore(t, store, ""), pristine
}

// recipeRestored asserts that the restore into new/ published vm1 by
// itself, byte for byte the snapshot backed up, with holes if kept.
func recipeRestored(t *testing.T, d *daemon, pristine string, holes bool) {
	t.Helper()
	nwWaitPublished(t, d, "vm1")
	dir := filepath.Join(d.Store, "vm1")
	nwSameFiles(t, pristine, dir)
	nwOnlyFiles(t, dir)
	if holes {
		clientHoles(t, dir)
	}
	if st := string(read(t, d.Path("vm1", "status"))); !strings.HasPrefix(st, "ok") {
		t.Errorf("restored vm1: status %q", st)
	}
}

func TestRecipes(t *testing.T) {
	rr := &recipeRun{t: t, all: readRecipes(t), ran: map[string]bool{}}
	// sub runs a subtest that runs the given recipes, and checks it ran
	// them all; declared is every recipe some subtest runs.
	declared := map[string]bool{}
	sub := func(name string, recipes []string, fn func(t *testing.T)) {
		for _, r := range recipes {
			declared[r] = true
		}
		t.Run(name, func(t *testing.T) {
			defer func() {
				if t.Failed() || t.Skipped() {
					return
				}
				for _, r := range recipes {
					if !rr.ran[r] {
						t.Errorf("recipe %q was not run", r)
					}
				}
			}()
			fn(t)
		})
	}

	// Each backup tool: back vm1 up from the mount, lose it (rmdir), and
	// restore it into new/, as README says.
	for _, tool := range []struct {
		name, bin string
		holes     bool // restic 0.14 writes holes as zeros
	}{{"tar", "tar", true}, {"rsync", "rsync", true}, {"cp", "cp", true}, {"restic", "restic", false}, {"borg", "borg", true}} {
		sub(tool.name, []string{"backup-" + tool.name, "restore-" + tool.name}, func(t *testing.T) {
			needTool(t, tool.bin)
			d, pristine := recipeSource(t, "16MiB")
			r := rr.with(t, d, "vm1", t.TempDir())
			r.run("backup-" + tool.name)
			if err := os.Remove(d.Path("vm1")); err != nil {
				t.Fatal(err)
			}
			mgWaitTrashEmpty(t, d)
			r.run("restore-" + tool.name)
			recipeRestored(t, d, pristine, tool.holes)
		})
	}

	// A restic backup of the path, not from inside: README explains why
	// restoring it straight into new/ fails, and gives the way that works.
	sub("restic-path", []string{"restore-restic-path"}, func(t *testing.T) {
		needTool(t, "restic")
		d, pristine := recipeSource(t, "16MiB")
		r := rr.with(t, d, "vm1", t.TempDir())
		if out, err := r.sh(`restic -r "$BACKUP/restic" init && restic -r "$BACKUP/restic" backup "$MNT/$NAME"`); err != nil {
			t.Fatalf("restic backup of the path: %v\n%s", err, out)
		}
		if err := os.Remove(d.Path("vm1")); err != nil {
			t.Fatal(err)
		}
		mgWaitTrashEmpty(t, d)
		// What README says fails, fails as it says.
		out, err := r.sh(`restic -r "$BACKUP/restic" restore latest --target "$MNT/new/$NAME"`)
		if err == nil || !strings.Contains(out, "operation not permitted") {
			t.Errorf("restic restore of a path backup straight into new/: %v\n%s", err, out)
		}
		os.RemoveAll(d.Path("new", "vm1"))
		r.run("restore-restic-path")
		recipeRestored(t, d, pristine, true)
	})

	sub("verify", []string{"backup-cp", "verify"}, func(t *testing.T) {
		needTool(t, "sha256sum")
		d, _ := recipeSource(t, "16MiB")
		r := rr.with(t, d, "vm1", t.TempDir())
		r.run("backup-cp")
		out := r.run("verify")
		nwContains(t, "verify", out, "vm1: ok")
		nwContains(t, "verify", out, "memory.bin: OK")

		// A damaged copy fails it, and so does a damaged STORE file.
		bk := filepath.Join(r.backup, "vm1")
		old := dgPatch(t, filepath.Join(bk, "memory.bin"), 4096, []byte("damaged"))
		if out, err := r.sh(r.body("verify")); err == nil || !strings.Contains(out, "memory.bin: FAILED") {
			t.Errorf("verify of a damaged copy: %v\n%s", err, out)
		}
		dgPatch(t, filepath.Join(bk, "memory.bin"), 4096, old)
		dgPatch(t, filepath.Join(d.Store, "vm1", "memory.bin"), 4096, []byte("damaged"))
		if out, err := r.sh(r.body("verify")); err == nil || !strings.Contains(out, "memory.bin differs from its digest") {
			t.Errorf("verify of a damaged STORE file: %v\n%s", err, out)
		}
	})

	sub("openvmm-restore", []string{"openvmm-restore"}, func(t *testing.T) {
		d, pristine := recipeSource(t, "16MiB")
		r := rr.with(t, d, "vm1", t.TempDir())
		vm := r.openvmm("openvmm-restore")
		if vm.restored == nil {
			t.Fatal("the recipe restores no VM")
		}
		// The guest wrote its RAM (start checked it read back); the
		// snapshot did not change.
		nwSameFiles(t, pristine, filepath.Join(d.Store, "vm1"))
		nwSameFiles(t, pristine, d.Path("vm1"))
		if st := string(read(t, d.Path("vm1", "status"))); !strings.HasPrefix(st, "ok") {
			t.Errorf("vm1 after a restore: status %q", st)
		}
	})

	sub("openvmm-save", []string{"openvmm-save"}, func(t *testing.T) {
		d := mountStore(t, t.TempDir(), "")
		r := rr.with(t, d, "vm1", t.TempDir())
		vm := r.openvmm("openvmm-save")
		if vm.saved == nil {
			t.Fatal("the recipe saves no snapshot")
		}
		nwWaitPublished(t, d, "vm1")
		dir := filepath.Join(d.Store, "vm1")
		if got := read(t, filepath.Join(dir, "manifest.bin")); !bytes.Equal(got, vm.saved.Encode()) {
			t.Errorf("published manifest.bin is not the one saved")
		}
		f, err := os.Open(filepath.Join(dir, "memory.bin"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		got := make([]byte, len(recipeGuest))
		if _, err := f.ReadAt(got, recipeGuestAt); err != nil || !bytes.Equal(got, recipeGuest) {
			t.Errorf("published memory.bin at %d: %q, %v; the guest wrote %q", recipeGuestAt, got, err, recipeGuest)
		}
		if st := string(read(t, d.Path("vm1", "status"))); !strings.HasPrefix(st, "ok") {
			t.Errorf("saved vm1: status %q", st)
		}
	})

	sub("prune", []string{"prune"}, func(t *testing.T) {
		// One snapshot a day, 2026-06-01 (a Monday) to 06-10: seven
		// days keep 04..10, four weeks keep the newest of each of the
		// two weeks and, their count left over, the oldest (01).
		store := t.TempDir()
		for day := 1; day <= 10; day++ {
			at := time.Date(2026, 6, day, 12, 0, 0, 0, time.UTC)
			makeSnap(t, store, fmt.Sprintf("d%02d", day), snapSpec{Manifest: goodManifest(at)})
		}
		d := mountStore(t, store, "")
		out := rr.with(t, d, "", t.TempDir()).run("prune")
		nwContains(t, "prune", out, "d02")
		want := []string{"d01", "d04", "d05", "d06", "d07", "d08", "d09", "d10"}
		if got := mgVisible(t, store); !slices.Equal(got, want) {
			t.Errorf("STORE after prune: %v, want %v\n%s", got, want, out)
		}
		dgWait(t, "the mount showing what prune kept", func() bool {
			return slices.Equal(recipeSnaps(t, d.Mnt), want)
		})
	})

	sub("rename-delete", []string{"rename-delete"}, func(t *testing.T) {
		d, _ := recipeSource(t, "16MiB")
		rr.with(t, d, "vm1", t.TempDir()).run("rename-delete")
		mgWaitTrashEmpty(t, d)
		if got := mgVisible(t, d.Store); len(got) != 0 {
			t.Errorf("STORE after rename and delete: %v", got)
		}
		if got := recipeSnaps(t, d.Mnt); len(got) != 0 {
			t.Errorf("the mount after rename and delete: %v", got)
		}
	})

	for name, r := range rr.all {
		if !declared[name] {
			t.Errorf("README.md:%d: recipe %q has no test run in recipes_test.go", r.line, name)
		}
	}
	for name := range declared {
		if _, ok := rr.all[name]; !ok {
			t.Errorf("README.md has no recipe %q, which recipes_test.go runs", name)
		}
	}
}

// recipeSnaps lists the snapshots a mount shows (not latest, not new).
func recipeSnaps(t testing.TB, mnt string) []string {
	var out []string
	for _, n := range names(t, mnt) {
		if n != "latest" && n != "new" {
			out = append(out, n)
		}
	}
	return out
}

// What the stand-in guest writes into the RAM of a VM it starts.
var (
	recipeGuest   = []byte("saved by the guest")
	recipeGuestAt = int64(3 << 20)
)

// recipeVM is the OpenVMM stand-in's VM.
type recipeVM struct {
	t        *testing.T
	ram      *vmRAM
	backing  string             // the RAM file of a started VM
	restored *snapshot.Manifest // of --restore-snapshot
	saved    *snapshot.Manifest // by save-snapshot
}

func (vm *recipeVM) quit() {
	if vm.ram != nil {
		vm.ram.close()
		vm.ram = nil
	}
}

// openvmm runs a recipe that needs OpenVMM. A test cannot boot a guest,
// so the OpenVMM syscall replay (openvmm_replay_test.go) stands in for
// it: each `openvmm ...` line is expanded by bash and replayed, each
// `# openvmm> CMD` line is a console command; the other lines run in
// bash. The VM quits at the end of the block.
func (rr *recipeRun) openvmm(name string) *recipeVM {
	t := rr.t
	t.Helper()
	if _, err := exec.LookPath("openvmm"); err != nil {
		t.Logf("openvmm is not installed: the OpenVMM syscall replay stands in for it")
	} else {
		t.Logf("a test cannot boot a guest: the OpenVMM syscall replay stands in for openvmm")
	}
	vm := &recipeVM{t: t}
	var shell strings.Builder
	flush := func() {
		if shell.Len() > 0 {
			if out, err := rr.sh(shell.String()); err != nil {
				t.Fatalf("recipe %s: %v\n%s", name, err, out)
			}
			shell.Reset()
		}
	}
	for _, line := range strings.Split(rr.body(name), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "openvmm "):
			flush()
			vm.start(rr.words(strings.TrimPrefix(trimmed, "openvmm ")))
		case strings.HasPrefix(trimmed, "# openvmm> "):
			flush()
			cmd, _, _ := strings.Cut(strings.TrimPrefix(trimmed, "# openvmm> "), "  ")
			vm.console(rr.words(cmd))
		default:
			shell.WriteString(line + "\n")
		}
	}
	flush()
	vm.quit()
	return vm
}

// words expands a command line as bash would, into its arguments.
func (rr *recipeRun) words(line string) []string {
	rr.t.Helper()
	out, err := rr.sh(`printf '%s\0' ` + line)
	if err != nil {
		rr.t.Fatalf("expanding %q: %v\n%s", line, err, out)
	}
	return strings.Split(strings.TrimSuffix(out, "\x00"), "\x00")
}

// start replays an OpenVMM command line.
func (vm *recipeVM) start(args []string) {
	t := vm.t
	t.Helper()
	for i := 0; i < len(args); i++ {
		if i+1 >= len(args) {
			t.Fatalf("openvmm stand-in: %s needs a value", args[i])
		}
		switch args[i] {
		case "--restore-snapshot":
			i++
			m, ram, err := openvmmRestore(args[i])
			if err != nil {
				t.Fatalf("openvmm --restore-snapshot %s: %v", args[i], err)
			}
			vm.restored, vm.ram = m, ram
			vm.guest()
		case "--memory":
			i++
			var size int64
			for _, kv := range strings.Split(args[i], ",") {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "size":
					size = recipeSize(t, v)
				case "file":
					vm.backing = v
				default:
					t.Fatalf("openvmm stand-in: --memory %s: unknown key %q", args[i], k)
				}
			}
			ram, err := openvmmStart(vm.backing, size)
			if err != nil {
				t.Fatalf("openvmm --memory %s: %v", args[i], err)
			}
			vm.ram = ram
			vm.guest()
		default:
			t.Fatalf("openvmm stand-in: unknown flag %q", args[i])
		}
	}
}

// guest writes the guest's bytes into its RAM and reads them back.
func (vm *recipeVM) guest() {
	vm.t.Helper()
	copy(vm.ram.mem[recipeGuestAt:], recipeGuest)
	if got := vm.ram.mem[recipeGuestAt : recipeGuestAt+int64(len(recipeGuest))]; !bytes.Equal(got, recipeGuest) {
		vm.t.Fatalf("the guest reads %q back from its RAM, wrote %q", got, recipeGuest)
	}
}

// console replays an OpenVMM console command.
func (vm *recipeVM) console(args []string) {
	t := vm.t
	t.Helper()
	if len(args) != 2 || args[0] != "save-snapshot" {
		t.Fatalf("openvmm stand-in: unknown console command %q", args)
	}
	if vm.ram == nil || vm.backing == "" {
		t.Fatal("save-snapshot before a VM started with --memory file=...")
	}
	m := goodManifest(time.Now())
	m.MemorySizeBytes = uint64(len(vm.ram.mem))
	if err := openvmmSave(args[1], m, snapshot.EncodeState(basicUnits(t)), vm.backing); err != nil {
		t.Fatalf("save-snapshot %s: %v", args[1], err)
	}
	vm.saved = m
}

// recipeSize reads OpenVMM's size syntax: a number with K, M or G.
func recipeSize(t *testing.T, s string) int64 {
	t.Helper()
	shift := map[byte]uint{'K': 10, 'M': 20, 'G': 30}
	n, sh := s, uint(0)
	if len(s) > 0 {
		if v, ok := shift[s[len(s)-1]]; ok {
			n, sh = s[:len(s)-1], v
		}
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil || v <= 0 {
		t.Fatalf("openvmm stand-in: size %q", s)
	}
	return v << sh
}
