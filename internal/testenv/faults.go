package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PauseEtcd stops etcd (SIGSTOP) for d and lets it go on (SIGCONT), as a disk that stalls or a
// machine that freezes would: the apiserver's reads and writes hang until it comes back.
func (e *Env) PauseEtcd(d time.Duration) error {
	pid, err := child(e.Environment.ControlPlane.Etcd.Path)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pausing etcd (pid %d): %w", pid, err)
	}
	time.Sleep(d)
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		return fmt.Errorf("resuming etcd (pid %d): %w", pid, err)
	}
	return nil
}

// child finds the process of this control plane that runs the binary at path: envtest keeps
// its processes to itself, so it is the child of this process that runs that binary.
func child(path string) (int, error) {
	want, err := filepath.EvalSymlinks(path)
	if err != nil {
		return 0, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", ent.Name(), "exe"))
		if err != nil || exe != want {
			continue
		}
		if ppid, err := parentOf(pid); err == nil && ppid == os.Getpid() {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no %s runs as a child of this process", want)
}

// parentOf reads a process's parent from /proc/<pid>/stat.
func parentOf(pid int) (int, error) {
	fields, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(fields[1])
}

// statFields are the fields of /proc/<pid>/stat after the command, which, in parentheses, may
// itself hold spaces: fields[0] is the process's state (field 3 of proc(5)), fields[1] its parent.
func statFields(pid int) ([]string, error) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, err
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return nil, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	return fields, nil
}

// RestartAPIServer stops the kube-apiserver and starts it again on the same address with the
// same serving certificate, client CA and service-account keys, so the clients and tokens made
// before it went keep working and reconnect. It is stopped as a kubelet stops it: SIGTERM, and
// SIGKILL if it has not ended within grace. (envtest's own Stop waits 20 seconds: a
// kube-apiserver with watches open drains them for up to its request timeout, a minute.) envtest
// would start it with new certificates and keys, removing the directory they are in when the
// process ends, so they are copied aside first.
func (e *Env) RestartAPIServer(grace time.Duration) (killed bool, err error) {
	api := e.Environment.ControlPlane.GetAPIServer()
	keep, err := os.MkdirTemp("", "caseload-apiserver-")
	if err != nil {
		return false, err
	}
	e.removeOnStop = append(e.removeOnStop, keep)
	entries, err := os.ReadDir(api.CertDir)
	if err != nil {
		return false, err
	}
	for _, ent := range entries {
		if !ent.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(api.CertDir, ent.Name()))
		if err != nil {
			return false, err
		}
		if err := os.WriteFile(filepath.Join(keep, ent.Name()), b, 0o600); err != nil {
			return false, err
		}
	}

	pid, err := child(api.Path)
	if err != nil {
		return false, err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return false, fmt.Errorf("stopping kube-apiserver (pid %d): %w", pid, err)
	}
	if !ended(pid, grace) {
		killed = true
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return killed, fmt.Errorf("killing kube-apiserver (pid %d): %w", pid, err)
		}
		if !ended(pid, 10*time.Second) {
			return killed, fmt.Errorf("kube-apiserver (pid %d) still runs 10s after SIGKILL", pid)
		}
	}
	// The process has ended: envtest's Stop now only removes the directory of the certificates.
	_ = api.Stop()
	// A directory given is kept when the process stops, and certificates found in it are used.
	api.CertDir = keep
	// A machine busy with the rest of a test takes longer to start it than envtest allows.
	api.StartTimeout = 2 * time.Minute
	if err := api.Start(); err != nil {
		return killed, fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return killed, nil
}

// ended waits up to d for process pid to have ended and been reaped by the envtest goroutine
// waiting on it.
func ended(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); os.IsNotExist(err) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CPU is the processor time the control plane's kube-apiserver and etcd have used so far (user
// and system), for benchmarks to say where the cores went.
func (e *Env) CPU() (apiserver, etcd time.Duration, err error) {
	for _, p := range []struct {
		path string
		into *time.Duration
	}{{e.Environment.ControlPlane.GetAPIServer().Path, &apiserver}, {e.Environment.ControlPlane.Etcd.Path, &etcd}} {
		pid, err := child(p.path)
		if err != nil {
			return 0, 0, err
		}
		if *p.into, err = ProcessCPU(pid); err != nil {
			return 0, 0, err
		}
	}
	return apiserver, etcd, nil
}

// ProcessCPU is the processor time a process has used so far, user and system, from
// /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s on Linux).
func ProcessCPU(pid int) (time.Duration, error) {
	fields, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
