package fs

import (
	"fmt"
	"log/slog"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dropSysResource removes CAP_SYS_RESOURCE from every thread's
// effective, permitted and inheritable sets. Writes the kernel makes on
// the daemon's fds (passthrough to staged files and restore clones) run
// with the daemon's credentials; without CAP_SYS_RESOURCE they cannot
// take ext4's root-reserved blocks or pass a quota limit, so a user's
// writes stop where a write of their own would (the files are owned by
// them, so quotas charge them). It runs after raiseFdLimit, the one
// thing the daemon needed the capability for. Capabilities are per
// thread, hence AllThreadsSyscall (the binary is built without cgo).
func dropSysResource() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	bit := uint32(1) << (unix.CAP_SYS_RESOURCE % 32)
	i := unix.CAP_SYS_RESOURCE / 32
	data[i].Effective &^= bit
	data[i].Permitted &^= bit
	data[i].Inheritable &^= bit
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET,
		uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	return nil
}

// giveUpSysResource drops CAP_SYS_RESOURCE (see dropSysResource), or
// says loudly that user writes may use root's reserve.
func giveUpSysResource() {
	if err := dropSysResource(); err != nil {
		slog.Warn("cannot drop CAP_SYS_RESOURCE: users' staged writes and restore clones may use root's reserved blocks and pass quotas", "err", err)
	}
}
