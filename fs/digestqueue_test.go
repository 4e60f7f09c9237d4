package fs

import (
	"sync"
	"testing"
)

// waitWaiters waits until n goroutines wait for l.
func waitWaiters(l *turnLock, n int) {
	for {
		l.mu.Lock()
		got := len(l.waiters)
		l.mu.Unlock()
		if got == n {
			return
		}
	}
}

// TestTurnLockTakesTurns: the lock goes to its waiters in arrival order,
// and one that gives it back and asks again at once (a digest between
// two chunks) waits behind them, so a long digest cannot keep a short
// one waiting for more than one chunk per other digest.
func TestTurnLockTakesTurns(t *testing.T) {
	var l turnLock
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	l.Lock()
	for id := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Lock()
			mu.Lock()
			order = append(order, id)
			mu.Unlock()
			l.Unlock()
		}()
		waitWaiters(&l, id+1)
	}
	l.Unlock()
	l.Lock() // behind the three
	mu.Lock()
	got := append([]int(nil), order...)
	mu.Unlock()
	l.Unlock()
	wg.Wait()
	if len(got) != 3 || got[0] != 0 || got[1] != 1 || got[2] != 2 {
		t.Fatalf("turns went %v, want [0 1 2] before the unlocker's next turn", got)
	}
}
