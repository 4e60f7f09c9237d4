package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// What the running kernel offers FUSE, for snapfs version.

// kernelInfo is what probeKernel learned about FUSE passthrough.
type kernelInfo struct {
	release      string
	major, minor int    // of release; 0 when it does not parse
	ioctl        string // what /dev/fuse said to FUSE_DEV_IOC_BACKING_OPEN
	ioctlKnown   bool   // the kernel knows the ioctl
	ioctlTried   bool
	config       string // "y", "n" or "" (unknown), CONFIG_FUSE_PASSTHROUGH
	configFrom   string
}

// probeKernel learns cheaply what the kernel offers: no mount, nothing
// written. An error on the way leaves its part unknown.
func probeKernel() kernelInfo {
	var k kernelInfo
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		k.release = unix.ByteSliceToString(u.Release[:])
	}
	k.major, k.minor = parseRelease(k.release)
	k.probeIoctl()
	k.config, k.configFrom = kernelConfig(k.release, "CONFIG_FUSE_PASSTHROUGH")
	return k
}

// parseRelease reads "6.9.0-1-amd64" as 6, 9.
func parseRelease(r string) (int, int) {
	f := strings.FieldsFunc(r, func(c rune) bool { return c < '0' || c > '9' })
	if len(f) < 2 {
		return 0, 0
	}
	major, _ := strconv.Atoi(f[0])
	minor, _ := strconv.Atoi(f[1])
	return major, minor
}

// fuseDevIocBackingOpen is FUSE_DEV_IOC_BACKING_OPEN, _IOW(229, 1,
// struct fuse_backing_map), which kernels with passthrough (6.9+) know.
const fuseDevIocBackingOpen = 0x4010e501

// probeIoctl asks a fresh /dev/fuse fd, which no mount uses, to open a
// backing file: a kernel without passthrough answers ENOTTY (no such
// ioctl), one with it refuses otherwise (EPERM: no connection yet), and
// no backing file is ever opened.
func (k *kernelInfo) probeIoctl() {
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		k.ioctl = fmt.Sprintf("cannot open /dev/fuse (%v)", err)
		return
	}
	defer unix.Close(fd)
	var m struct {
		fd, flags uint32
		padding   uint64
	}
	m.fd = ^uint32(0)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fuseDevIocBackingOpen, uintptr(unsafe.Pointer(&m)))
	k.ioctlTried = true
	switch errno {
	case unix.ENOTTY, unix.EINVAL:
		k.ioctl = "/dev/fuse does not know the passthrough ioctl"
	case unix.EOPNOTSUPP:
		k.ioctl = "/dev/fuse knows the passthrough ioctl but has passthrough compiled out"
		k.ioctlKnown = true
		k.config = "n"
	default:
		k.ioctl = "/dev/fuse knows the passthrough ioctl"
		k.ioctlKnown = true
	}
}

// kernelConfig reads name from the running kernel's configuration:
// /proc/config.gz, else /boot/config-RELEASE. It returns "y" (or "m"),
// "n", or "" when neither file says.
func kernelConfig(release, name string) (val, from string) {
	try := func(path string, gz bool) (string, bool) {
		f, err := os.Open(path)
		if err != nil {
			return "", false
		}
		defer f.Close()
		var r io.Reader = f
		if gz {
			z, err := gzip.NewReader(f)
			if err != nil {
				return "", false
			}
			r = z
		}
		// A kernel configuration is some 10,000 short lines; read at
		// most 4 MiB of it.
		sc := bufio.NewScanner(io.LimitReader(r, 4<<20))
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, name+"="); ok {
				return v, true
			}
			if line == "# "+name+" is not set" {
				return "n", true
			}
		}
		return "", false
	}
	if v, ok := try("/proc/config.gz", true); ok {
		return v, "/proc/config.gz"
	}
	if release != "" && !strings.Contains(release, "/") {
		p := "/boot/config-" + release
		if v, ok := try(p, false); ok {
			return v, p
		}
	}
	return "", ""
}

// passthrough is the FUSE passthrough line: the answer, then how it was
// learned.
func (k kernelInfo) passthrough() string {
	var why []string
	old := k.major < 6 || (k.major == 6 && k.minor < 9)
	if k.major > 0 {
		rel := "kernel " + strconv.Itoa(k.major) + "." + strconv.Itoa(k.minor)
		if old {
			why = append(why, rel+" < 6.9 (uname)")
		} else {
			why = append(why, rel+" >= 6.9 (uname)")
		}
	}
	why = append(why, k.ioctl)
	switch {
	case k.config == "n" && k.configFrom != "":
		why = append(why, "CONFIG_FUSE_PASSTHROUGH not set in "+k.configFrom)
	case k.config != "" && k.configFrom != "":
		why = append(why, "CONFIG_FUSE_PASSTHROUGH="+k.config+" in "+k.configFrom)
	}
	answer := "unknown"
	switch {
	case k.config == "n" || (k.ioctlTried && !k.ioctlKnown) || (k.major > 0 && old):
		answer = "no"
	case k.ioctlKnown || k.config == "y":
		answer = "yes"
	}
	s := answer + " (" + strings.Join(why, "; ") + ")"
	if answer != "no" {
		s += "; a mount uses it when the daemon runs as root without --no-passthrough (its \"mounted\" log line says)"
	}
	return s
}
