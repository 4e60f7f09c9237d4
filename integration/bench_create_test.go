package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchCreate copies a snapshot with a 1 GiB (dense) memory.bin into
// MNT/new/<name> with `cp -r` and times it until MNT/<name>/status exists,
// i.e. until snapfs has validated, fsynced and published it (commit delay
// 100ms). Publishing is durable, so the baseline is `cp -r` into a native
// directory on the same filesystem followed by `sync` of the three files,
// the new directory and its parent (what publishing fsyncs). Each copy is
// removed after its round, and the machine synced, untimed.
func benchCreate(b *testing.B, env *benchEnv) benchMeasured {
	src := filepath.Join(env.denseStore(b), benchMid)
	store := filepath.Join(env.dir, "create-store")
	native := filepath.Join(env.dir, "create-native")
	for _, dir := range []string{store, native} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		os.RemoveAll(store)
		os.RemoveAll(native)
	})
	d := mountStore(b, store, "", "--commit-delay", "100ms")
	round := 0
	settle := func(path string) {
		if path != "" {
			if err := os.RemoveAll(path); err != nil {
				b.Fatal(err)
			}
		}
		run(b, "sync")
	}
	settle("") // the dense store's data, still being written back
	s, bl := benchRounds(env.rounds,
		func() float64 {
			round++
			name := "c" + strconv.Itoa(round)
			el := benchElapsed(func() {
				run(b, "cp", "-r", src, d.Path("new", name))
				status := d.Path(name, "status")
				deadline := time.Now().Add(60 * time.Second)
				for {
					if _, err := os.Lstat(status); err == nil {
						return
					}
					if time.Now().After(deadline) {
						b.Fatalf("%s not published after 60s; new/%s/status: %s\n%s",
							name, name, benchReadOr(d.Path("new", name, "status")), d.Log())
					}
					time.Sleep(2 * time.Millisecond)
				}
			})
			// cp -r does not keep mtimes, so status warns that memory.bin is
			// newer than created_at; only errors would be wrong.
			if got := benchReadOr(d.Path(name, "status")); strings.Contains(got, "error") {
				b.Fatalf("published %s has status %q", name, got)
			}
			settle(filepath.Join(store, name))
			return el.Seconds()
		},
		func() float64 {
			round++
			dst := filepath.Join(native, "c"+strconv.Itoa(round))
			el := benchElapsed(func() {
				run(b, "cp", "-r", src, dst)
				run(b, "sync", filepath.Join(dst, "manifest.bin"), filepath.Join(dst, "state.bin"),
					filepath.Join(dst, "memory.bin"), dst, native)
			})
			settle(dst)
			return el.Seconds()
		})
	return benchMeasured{snapfs: s, baseline: bl}
}

// benchReadOr is the file's content, or the error reading it.
func benchReadOr(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(data)
}
