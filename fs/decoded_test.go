package fs

import (
	"errors"
	"testing"
)

// TestDecodedCache: a view is made once; errors are kept; past the
// budget a good view is remembered as good but made again when asked.
func TestDecodedCache(t *testing.T) {
	var c decodedCache
	calls := 0
	build := func(n int, err error) func() ([]byte, error) {
		return func() ([]byte, error) { calls++; return make([]byte, n), err }
	}
	for i := 0; i < 2; i++ {
		if b, err := c.get(decodedKey{unit: 1}, build(10, nil)); len(b) != 10 || err != nil {
			t.Fatal(b, err)
		}
	}
	bad := errors.New("bad")
	for i := 0; i < 2; i++ {
		if _, err := c.get(decodedKey{unit: 2, gen: 1}, build(0, bad)); err != bad {
			t.Fatal(err)
		}
	}
	if calls != 2 {
		t.Fatalf("%d builds, want 2", calls)
	}
	big := decodedKey{unit: 3}
	c.get(big, build(maxDecodedCache, nil))
	if made, err := c.known(big); !made || err != nil {
		t.Fatalf("big view: made %v err %v", made, err)
	}
	c.get(big, build(maxDecodedCache, nil))
	if calls != 4 {
		t.Fatalf("%d builds, want 4 (a view past the budget is made at each get)", calls)
	}
	if made, _ := c.known(decodedKey{unit: 4}); made {
		t.Fatal("unknown view reported made")
	}
}
