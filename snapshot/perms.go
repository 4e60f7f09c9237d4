package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// A snapshot's files are data a VM boots from: in STORE nobody but their
// owner may write them, and they grant no privilege when run. Publishing
// strips what a backup tool restored (tar, rsync -a and cp -a record the
// write bits a mount shows on memory.bin), and a file that has any of it
// anyway is an error.

// UnsafeMode are the mode bits a snapshot's file must not have in STORE:
// group and other write, set-user-ID, set-group-ID.
const UnsafeMode = 0o022 | unix.S_ISUID | unix.S_ISGID

// CapabilityXattr holds a file's capabilities, which a snapshot's file
// must not have.
const CapabilityXattr = "security.capability"

// FilePerm is what the permission check needs of one file of a snapshot.
type FilePerm struct {
	Name string // manifest.bin, state.bin, memory.bin
	Mode uint32 // st_mode
	Caps bool   // has a security.capability xattr
}

// permProblem says what is wrong with f, or "".
func permProblem(f FilePerm) string {
	if bad := f.Mode & UnsafeMode; bad != 0 {
		return fmt.Sprintf("%s: mode %#o lets %s: remove it (chmod go-w,ug-s %s)", f.Name, f.Mode&0o7777, unsafeWhat(bad), f.Name)
	}
	if f.Caps {
		return fmt.Sprintf("%s: has file capabilities (%s): remove them (setcap -r %s)", f.Name, CapabilityXattr, f.Name)
	}
	return ""
}

// unsafeWhat names the unsafe bits set in bad.
func unsafeWhat(bad uint32) string {
	switch {
	case bad&0o022 != 0 && bad&(unix.S_ISUID|unix.S_ISGID) != 0:
		return "group or others write it and has set-id bits"
	case bad&0o022 != 0:
		return "group or others write it"
	}
	return "it run with set-id bits"
}

// HasCapabilities reports whether the file at path (not followed if a
// symlink) carries file capabilities.
func HasCapabilities(path string) bool {
	_, err := unix.Lgetxattr(path, CapabilityXattr, nil)
	return err == nil || errors.Is(err, unix.ERANGE)
}

// dirPerms gathers the FilePerms of dir's source files that exist.
func dirPerms(dir string) []FilePerm {
	var out []FilePerm
	for _, n := range []string{"manifest.bin", "state.bin", "memory.bin"} {
		p := filepath.Join(dir, n)
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		out = append(out, FilePerm{Name: n, Mode: st.Mode, Caps: HasCapabilities(p)})
	}
	return out
}
