package fs

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/snapfs/snapfs/snapshot/statetext"
)

func TestToErrno(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{syscall.EROFS, syscall.EROFS},
		{fmt.Errorf("wrapped: %w", syscall.EEXIST), syscall.EEXIST},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.ELOOP}, syscall.ELOOP},
		{iofs.ErrNotExist, syscall.ENOENT},
		{fmt.Errorf("gone: %w", iofs.ErrNotExist), syscall.ENOENT},
		{iofs.ErrExist, syscall.EEXIST},
		{iofs.ErrPermission, syscall.EACCES},
		{context.Canceled, syscall.EINTR},
		{fmt.Errorf("value: %w", statetext.ErrChanged), syscall.ESTALE},
		{&errInvalid{"error: x\n"}, syscall.EINVAL},
		// Never ENOSYS by accident: the kernel would stop sending the op.
		{syscall.ENOSYS, syscall.EIO},
		{errors.New("something unforeseen"), syscall.EIO},
	} {
		if got := toErrno(ctx, "test", c.err); got != c.want {
			t.Errorf("toErrno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
