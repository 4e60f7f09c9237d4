package fs

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSumsCache: a small file is hashed at once; a large one is refused
// with a finding while it is hashed in the background, then its sum is
// answered at once; a changed file is a new file.
func TestSumsCache(t *testing.T) {
	c := &sumsCache{sums: map[fileID]string{}, pending: map[fileID]bool{}}
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("abc"), 0o644)
	f, _ := os.Open(small)
	defer f.Close()
	want := sha256.Sum256([]byte("abc"))
	if got, err := c.sum(f); err != nil || got != hex.EncodeToString(want[:]) {
		t.Fatalf("small: %q %v", got, err)
	}
	large := filepath.Join(dir, "large")
	lf, _ := os.Create(large)
	defer lf.Close()
	lf.Truncate(inlineHashMax + 1)
	_, err := c.sum(lf)
	if err == nil || !strings.Contains(err.Error(), "being hashed in the background") {
		t.Fatalf("large: %v", err)
	}
	zero := sha256.Sum256(make([]byte, inlineHashMax+1))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err := c.sum(lf)
		if err == nil {
			if got != hex.EncodeToString(zero[:]) {
				t.Fatalf("large: sum %s", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("large: still %v", err)
		}
	}
	lf.WriteAt([]byte{1}, 0)
	if _, err := c.sum(lf); err == nil {
		t.Errorf("a changed large file was answered from the cache")
	}
}
