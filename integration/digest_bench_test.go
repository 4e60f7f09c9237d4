package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// benchVerifyMemory: `snapfs verify` of a snapshot whose memory.bin is
// the dense store's 2 GiB of random data (hard-linked, so the same
// blocks, warm), against `sha256sum` of the same memory.bin; MiB/s.
func benchVerifyMemory(b *testing.B, env *benchEnv) benchMeasured {
	store := env.denseStore(b)
	dir := filepath.Join(env.dir, "verify-store", "v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, f := range []string{"manifest.bin", "state.bin", "memory.bin"} {
		if err := os.Link(filepath.Join(store, benchBig, f), filepath.Join(dir, f)); err != nil && !os.IsExist(err) {
			b.Fatal(err)
		}
	}
	if r := snapfs(b, "digest", dir); r.code != 0 {
		b.Fatalf("snapfs digest: %s", r.stderr)
	}
	mem := filepath.Join(dir, "memory.bin")
	size := float64(lstat(b, mem).Size) / (1 << 20)
	s, bl := benchRounds(env.rounds,
		func() float64 {
			return size / benchElapsed(func() {
				if r := snapfs(b, "verify", dir); r.code != 0 {
					b.Fatalf("snapfs verify: exit %d %s%s", r.code, r.stdout, r.stderr)
				}
			}).Seconds()
		},
		func() float64 {
			return size / benchElapsed(func() {
				if out, err := exec.Command("sha256sum", mem).CombinedOutput(); err != nil {
					b.Fatalf("sha256sum: %v %s", err, out)
				}
			}).Seconds()
		})
	return benchMeasured{snapfs: s, baseline: bl}
}
