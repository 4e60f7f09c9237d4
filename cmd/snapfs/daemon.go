package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// readyEnv tells a re-executed daemon which fd to report readiness on.
const readyEnv = "SNAPFS_READY_FD"

var execLookPath = exec.LookPath

// daemonArgs are the arguments of the current `snapfs mount`, kept so
// that --daemon can start the same mount in a new session.
var daemonArgs []string

// startDaemon re-executes snapfs (never forks the serving process) with
// its stdio detached, and waits until the child reports the mount ready
// or failed.
func startDaemon(stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "snapfs mount: %v\n", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "snapfs mount: %v\n", err)
		return 1
	}
	null, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	cmd := exec.Command(exe, append([]string{"mount"}, daemonArgs...)...)
	cmd.Env = append(os.Environ(), readyEnv+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "snapfs mount: starting daemon: %v\n", err)
		return 1
	}
	w.Close()
	null.Close()
	line, _ := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSpace(line)
	if line == "ok" {
		cmd.Process.Release()
		return 0
	}
	if line == "" {
		line = "daemon exited before the mount was ready"
		cmd.Wait()
	}
	fmt.Fprintf(stderr, "snapfs mount: %s\n", line)
	return 1
}

// reportReady tells a waiting parent (--daemon) that the mount is up or
// why it failed; without a parent it does nothing.
func reportReady(err error) {
	v := os.Getenv(readyEnv)
	if v == "" {
		return
	}
	os.Unsetenv(readyEnv)
	fd, convErr := strconv.Atoi(v)
	if convErr != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "ready")
	if err != nil {
		fmt.Fprintf(f, "%v\n", strings.ReplaceAll(err.Error(), "\n", " "))
	} else {
		fmt.Fprintln(f, "ok")
	}
	f.Close()
}
