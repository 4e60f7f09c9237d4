package fs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/snapfs/snapfs/snapshot"
)

func testKey(unit int) decodedKey { return decodedKey{kind: kindText, unit: unit} }

// TestDecodedCacheBudget: the cache keeps at most its budget in bytes,
// dropping the least recently used first; errors are kept, answers that
// say nothing of the file are not, and an entry larger than the whole
// budget is answered but not kept.
func TestDecodedCacheBudget(t *testing.T) {
	const budget = 10 * (1000 + entryCost)
	c := newDecodedCache(budget)
	calls := map[int]int{}
	get := func(unit int, d decoded) *decodedEntry {
		return c.get(testKey(unit), func() decoded { calls[unit]++; return d })
	}
	for i := 0; i < 10; i++ {
		get(i, decoded{val: i, bytes: 1000, keep: true})
	}
	if used, n := c.usage(); used != budget || n != 10 {
		t.Fatalf("after 10 entries of 1000 bytes: %d bytes in %d entries, want %d in 10", used, n, budget)
	}
	get(0, decoded{}) // 0 is now the most recently used
	get(10, decoded{val: 10, bytes: 1000, keep: true})
	if used, n := c.usage(); used > budget || n != 10 {
		t.Fatalf("past the budget: %d bytes in %d entries", used, n)
	}
	if c.peek(testKey(1)) != nil {
		t.Error("entry 1, the least recently used, was kept past the budget")
	}
	if e := c.peek(testKey(0)); e == nil || e.val != 0 {
		t.Error("entry 0, used again, was dropped")
	}
	if calls[0] != 1 {
		t.Errorf("entry 0 made %d times, want once", calls[0])
	}

	// One entry of 5000 bytes drops five of the others, by bytes.
	get(11, decoded{val: 11, bytes: 5000 + 4*entryCost, keep: true})
	if used, n := c.usage(); used > budget || n != 6 {
		t.Fatalf("after a 5000 byte entry: %d bytes in %d entries, want 6 entries", used, n)
	}

	bad := errors.New("bad")
	for i := 0; i < 2; i++ {
		if e := get(20, decoded{err: bad, bytes: errBytes(bad), keep: true}); e.err != bad || !e.kept {
			t.Fatalf("error entry: %v kept %v", e.err, e.kept)
		}
	}
	if calls[20] != 1 {
		t.Errorf("a kept error made %d times, want once", calls[20])
	}
	for i := 0; i < 2; i++ {
		get(21, decoded{err: bad}) // keep false: an open that failed
	}
	if calls[21] != 2 {
		t.Errorf("an answer not to keep was made %d times, want at every get", calls[21])
	}

	before, _ := c.usage()
	for i := 0; i < 2; i++ {
		e := get(22, decoded{val: 22, bytes: budget + 1, keep: true})
		if e.val != 22 || e.kept || e.bytes != budget+1+entryCost {
			t.Fatalf("oversized entry: val %v kept %v bytes %d", e.val, e.kept, e.bytes)
		}
	}
	if after, _ := c.usage(); after != before || calls[22] != 2 {
		t.Errorf("oversized entry: usage %d -> %d, made %d times", before, after, calls[22])
	}
}

// TestDecodedCacheOneBuildAtATime: concurrent asks for one key wait for
// one build.
func TestDecodedCacheOneBuildAtATime(t *testing.T) {
	c := newDecodedCache(1 << 20)
	var mu sync.Mutex
	builds := 0
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := c.get(testKey(1), func() decoded {
				mu.Lock()
				builds++
				mu.Unlock()
				<-release
				return decoded{val: "v", bytes: 1, keep: true}
			})
			if e.val != "v" {
				t.Errorf("got %v", e.val)
			}
		}()
	}
	close(release)
	wg.Wait()
	if builds != 1 {
		// A late goroutine may find it made; none may make it again.
		t.Errorf("%d builds, want 1", builds)
	}
}

// testStateUnits are n units with long names, as a hostile state.bin
// might have (within MaxStateStrings).
func testStateUnits(n int) []snapshot.StateUnit {
	units := make([]snapshot.StateUnit, n)
	for i := range units {
		units[i] = snapshot.StateUnit{
			Name:    fmt.Sprintf("unit-%05d-%s", i, strings.Repeat("n", 200)),
			TypeURL: "type.googleapis.com/x.Y",
			Value:   []byte{0x08, byte(i & 0x7f)},
		}
	}
	return units
}

// testSnapDir makes STORE/name with a manifest and memory.bin, and
// state.bin linked from link when not "", else holding state.
func testSnapDir(t *testing.T, store, name, link string, state []byte) {
	t.Helper()
	dir := filepath.Join(store, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := snapshot.Manifest{Version: 1, CreatedAt: snapshot.Timestamp{Seconds: 1700000000}}
	os.WriteFile(filepath.Join(dir, "manifest.bin"), m.Encode(), 0o644)
	os.WriteFile(filepath.Join(dir, "memory.bin"), make([]byte, 4096), 0o644)
	if link != "" {
		if err := os.Link(filepath.Join(store, link, "state.bin"), filepath.Join(dir, "state.bin")); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "state.bin"), state, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStateSharedByIdentity: snapshots whose state.bin is one file (hard
// links) share one index in the store's cache; a copy has its own; a
// changed file is indexed again; the index is counted honestly; one
// larger than the whole budget is still answered, with a status warning.
func TestStateSharedByIdentity(t *testing.T) {
	store := t.TempDir()
	state := snapshot.EncodeState(testStateUnits(4000))
	testSnapDir(t, store, "a", "", state)
	for _, n := range []string{"b", "c", "d"} {
		testSnapDir(t, store, n, "a", nil)
	}
	testSnapDir(t, store, "copy", "", state)
	s, err := OpenStore(store)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	index := func(name string) *snapshot.StateIndex {
		t.Helper()
		sn, err := s.Snapshot(name)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := sn.State()
		if err != nil || len(idx.Units) != 4000 {
			t.Fatalf("%s: %v", name, err)
		}
		return idx
	}
	a := index("a")
	for _, n := range []string{"b", "c", "d"} {
		if index(n) != a {
			t.Errorf("%s: a hard link of a's state.bin has an index of its own", n)
		}
	}
	used, entries := s.decoded.usage()
	if entries != 1 {
		t.Errorf("%d cache entries for one state.bin, want 1", entries)
	}
	// The names alone are 4000 * ~216 bytes; the units and the map add
	// to that. The estimate must not be below what is kept.
	strs := int64(0)
	for _, u := range a.Units {
		strs += int64(len(u.Name) + len(u.TypeURL))
	}
	if used < strs+int64(len(a.Units))*48 {
		t.Errorf("index counted as %d bytes, less than its strings (%d) and units", used, strs)
	}
	if index("copy") == a {
		t.Error("a copy (another inode) shares the index")
	}
	if _, n := s.decoded.usage(); n != 2 {
		t.Errorf("%d entries after the copy, want 2", n)
	}

	// Another file under the name: a new identity, indexed again.
	os.WriteFile(filepath.Join(store, "copy", "state.bin"), snapshot.EncodeState(testStateUnits(10)), 0o644)
	s.invalidate("copy")
	if sn, _ := s.Snapshot("copy"); sn != nil {
		if idx, err := sn.State(); err != nil || len(idx.Units) != 10 {
			t.Errorf("changed copy: %v", err)
		}
	}

	// A budget below one index: answered every time, never kept, and
	// status says so.
	s.decoded = newDecodedCache(used / 2)
	sn, _ := s.Snapshot("b")
	for i := 0; i < 2; i++ {
		if idx, err := sn.State(); err != nil || len(idx.Units) != 4000 {
			t.Fatalf("over budget: %v", err)
		}
	}
	if got, n := s.decoded.usage(); got != 0 || n != 0 {
		t.Errorf("an index past the budget was kept: %d bytes in %d entries", got, n)
	}
	if w := sn.stateWarning(); !strings.Contains(w, "more than the whole decoded cache") || !strings.Contains(w, "--decoded-cache-bytes") {
		t.Errorf("status warning: %q", w)
	}
}

// TestIndexBytesHonest: what indexBytes counts is near what the kept
// index costs the heap.
func TestIndexBytesHonest(t *testing.T) {
	store := t.TempDir()
	testSnapDir(t, store, "a", "", snapshot.EncodeState(testStateUnits(16000)))
	s, err := OpenStore(store)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sn, err := s.Snapshot("a")
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := sn.indexState(&sn.File(fileState).st)
	runtime.GC()
	runtime.ReadMemStats(&after)
	idx, ok := d.val.(*snapshot.StateIndex)
	if !ok {
		t.Fatal(d.err)
	}
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if d.bytes < heap*9/10 || d.bytes > heap*3/2 {
		t.Errorf("index of %d units counted as %d bytes; the heap grew by %d", len(idx.Units), d.bytes, heap)
	}
	t.Logf("counted %d bytes, heap grew by %d", d.bytes, heap)
	runtime.KeepAlive(idx)
}
