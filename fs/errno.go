package fs

import (
	"context"
	"errors"
	iofs "io/fs"
	"log/slog"
	"syscall"

	"github.com/snapfs/snapfs/snapshot/statetext"
)

// toErrno is the one place where Go errors become FUSE replies. Errors that
// carry an errno keep it; the io/fs sentinels map to their errno; anything
// else is a bug or an unforeseen condition, so it is logged and becomes EIO
// (never ENOSYS, which would make the kernel stop asking for that op).
func toErrno(ctx context.Context, op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if errno == syscall.ENOSYS {
			// An ENOSYS from the store must not make the kernel
			// disable this op for the whole mount.
			slog.WarnContext(ctx, "store returned ENOSYS", "op", op, "err", err)
			return syscall.EIO
		}
		return errno
	}
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, iofs.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, iofs.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, iofs.ErrInvalid):
		return syscall.EINVAL
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, statetext.ErrChanged):
		return syscall.ESTALE // state.bin shrank below its index
	}
	slog.ErrorContext(ctx, "unexpected error", "op", op, "err", err)
	return syscall.EIO
}
