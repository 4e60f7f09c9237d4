// Package integration tests snapfs as users meet it: the built binary run as
// a subprocess, real FUSE mounts, and real tools (tar, rsync, cp) against
// them. Nothing here links the daemon's code in-process, so a test sees
// exactly what the kernel and a user see.
//
// SNAPFS_BIN names the binary under test; without it TestMain builds one.
// Mount tests skip when FUSE is unavailable, except under CI=true, where a
// missing FUSE is a failure.
package integration
