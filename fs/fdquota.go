package fs

import (
	"context"
	"fmt"
	"sync"
	"syscall"
)

// DefaultMaxFdsPerUser is how many STORE fds the open files of one user
// may hold in the daemon at once.
const DefaultMaxFdsPerUser = 1024

// fdQuota bounds the daemon fds each user's open files hold (backing
// files and staged files need one each; views hold none): a user who
// opens a file many times gets EMFILE, and nobody else notices.
type fdQuota struct {
	mu   sync.Mutex
	max  int
	used map[uint32]int
}

func newFdQuota(max int) *fdQuota {
	if max <= 0 {
		max = DefaultMaxFdsPerUser
	}
	return &fdQuota{max: max, used: map[uint32]int{}}
}

// take charges one fd to the caller of ctx; the returned func gives it
// back, once.
func (q *fdQuota) take(ctx context.Context) (func(), error) {
	uid, _ := callerOf(ctx)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.used[uid] >= q.max {
		return nil, fmt.Errorf("user %d holds %d open files in the daemon, the most allowed (--max-fds-per-user): %w", uid, q.max, syscall.EMFILE)
	}
	q.used[uid]++
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			if q.used[uid]--; q.used[uid] <= 0 {
				delete(q.used, uid)
			}
		})
	}, nil
}
