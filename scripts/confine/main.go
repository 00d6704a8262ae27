// Command capstan-confine runs one program confined by Landlock and seccomp, the render sandbox that
// needs no namespaces (src/adapters/render/sandbox.ts, mode `landlock`). It works as an unprivileged
// process with no capabilities, under no_new_privs and a container's default seccomp profile
// (RuntimeDefault), where bubblewrap cannot make its user namespace.
//
//	capstan-confine [--read PATH]... [--write PATH]... [--network] [--keep-env NAME]... -- PROGRAM [ARG]...
//	capstan-confine --abi
//
// --max-abi N (before the others) uses at most Landlock ABI N, as on an older kernel: for tests of what
// the sandbox does there (src/adapters/render/sandbox.ts, test/integration/render-sandbox.test.ts). It
// can only take rights away from the sandbox's rules, never add any.
//
// Before it executes PROGRAM (an absolute path), in this order:
//  1. no_new_privs;
//  2. a Landlock ruleset: read and execute on the system's folders (/usr, /bin, /sbin, /lib*) and on
//     each --read path (the tool, the checkout), every file right on each --write path (the render's
//     scratch folder), read and write on /dev/null, and nothing else of the file system; TCP bind and
//     connect refused (ABI 4 and newer) unless --network; abstract unix sockets and signals outside
//     the sandbox refused (ABI 6 and newer);
//  3. a seccomp filter: socket() refused for every family without --network, and for every family but
//     IPv4 and IPv6 with it (UDP is outside Landlock's reach); ptrace, process_vm_readv/writev and
//     io_uring refused; other architectures' system calls kill the process;
//  4. every inherited file descriptor above stderr marked close-on-exec;
//  5. an environment of only the --keep-env variables.
//
// --abi prints `landlock-abi N` and exits 0 when this kernel's Landlock is enough, else explains why not.
// Exit codes: 125 the confinement could not be set up (message on stderr, prefixed `capstan-confine:`),
// 3 with --abi: no usable Landlock, 2 usage; otherwise PROGRAM's own.
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

const (
	exitSetup  = 125
	exitNoABI  = 3
	exitUsage  = 2
	minimumABI = 3 // truncate(2) is mediated from ABI 3 (Linux 6.2) on; below, a tool could truncate any file the agent may write
)

// Landlock's system calls have the same numbers on every architecture.
const (
	sysLandlockCreateRuleset = 444
	sysLandlockAddRule       = 445
	sysLandlockRestrictSelf  = 446
	sysCloseRange            = 436
)

// Landlock access rights (include/uapi/linux/landlock.h).
const (
	fsExecute     = 1 << 0
	fsWriteFile   = 1 << 1
	fsReadFile    = 1 << 2
	fsReadDir     = 1 << 3
	fsRefer       = 1 << 13
	fsTruncate    = 1 << 14
	fsIoctlDev    = 1 << 15
	fsAllABI1     = 1<<13 - 1
	fileRights    = fsExecute | fsWriteFile | fsReadFile | fsTruncate | fsIoctlDev
	readExecute   = fsExecute | fsReadFile | fsReadDir
	netBindTCP    = 1 << 0
	netConnTCP    = 1 << 1
	scopeAbstract = 1 << 0
	scopeSignal   = 1 << 1

	createRulesetVersion = 1 << 0
	rulePathBeneath      = 1
)

// The system's programs and libraries, readable and executable by every tool.
var systemPaths = []string{"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"}

type options struct {
	read    []string
	write   []string
	network bool
	keepEnv []string
	abiOnly bool
	maxABI  int
	program []string
}

func main() {
	// Landlock and seccomp apply to the calling thread: all of this, and the exec, on one thread.
	runtime.LockOSThread()
	opts, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "capstan-confine: %v (see the comment at the top of scripts/confine/main.go)\n", err)
		os.Exit(exitUsage)
	}
	abi, err := usableABI(opts.maxABI)
	if opts.abiOnly {
		if err != nil {
			fmt.Fprintf(os.Stderr, "capstan-confine: %v\n", err)
			os.Exit(exitNoABI)
		}
		fmt.Printf("landlock-abi %d\n", abi)
		return
	}
	if err == nil {
		err = confine(abi, opts)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "capstan-confine: %v\n", err)
		os.Exit(exitSetup)
	}
	err = syscall.Exec(opts.program[0], opts.program, keptEnvironment(opts.keepEnv))
	fmt.Fprintf(os.Stderr, "capstan-confine: cannot run %s: %v\n", opts.program[0], err)
	os.Exit(exitSetup)
}

func parseArgs(args []string) (options, error) {
	var opts options
	for i := 0; i < len(args); i++ {
		value := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", args[i])
			}
			i++
			return args[i], nil
		}
		var err error
		var v string
		switch args[i] {
		case "--abi":
			opts.abiOnly = true
		case "--network":
			opts.network = true
		case "--max-abi":
			if v, err = value(); err != nil {
				return opts, err
			}
			if opts.maxABI, err = strconv.Atoi(v); err != nil || opts.maxABI < 1 {
				return opts, fmt.Errorf("--max-abi needs a positive number, not %q", v)
			}
		case "--read", "--write", "--keep-env":
			flag := args[i]
			if v, err = value(); err != nil {
				return opts, err
			}
			switch flag {
			case "--read":
				opts.read = append(opts.read, v)
			case "--write":
				opts.write = append(opts.write, v)
			default:
				opts.keepEnv = append(opts.keepEnv, v)
			}
		case "--":
			opts.program = args[i+1:]
			i = len(args)
		default:
			return opts, fmt.Errorf("unknown argument %q", args[i])
		}
	}
	if opts.abiOnly {
		return opts, nil
	}
	if len(opts.program) == 0 {
		return opts, errors.New("no program to run: give it after --")
	}
	if !strings.HasPrefix(opts.program[0], "/") {
		return opts, fmt.Errorf("the program must be an absolute path, not %q", opts.program[0])
	}
	return opts, nil
}

// usableABI is the kernel's Landlock ABI version, lowered to max when it is given (see --max-abi), or
// why it cannot be used.
func usableABI(max int) (int, error) {
	abi, err := landlockABI()
	if err != nil || max == 0 || abi <= max {
		return abi, err
	}
	if max < minimumABI {
		return max, fmt.Errorf("this kernel's Landlock ABI is %d (lowered from %d by --max-abi); the sandbox needs %d or newer (Linux 6.2)", max, abi, minimumABI)
	}
	return max, nil
}

// landlockABI is the kernel's Landlock ABI version, or why it cannot be used.
func landlockABI() (int, error) {
	version, _, errno := syscall.Syscall(sysLandlockCreateRuleset, 0, 0, createRulesetVersion)
	switch {
	case errno == syscall.ENOSYS:
		return 0, errors.New("this kernel has no Landlock (built without CONFIG_SECURITY_LANDLOCK; Linux 5.13 or newer has it)")
	case errno == syscall.EOPNOTSUPP:
		return 0, errors.New("this kernel's Landlock is not enabled: add landlock to the lsm= boot parameter (or to CONFIG_LSM)")
	case errno != 0:
		return 0, fmt.Errorf("cannot read the Landlock ABI version: %v", errno)
	case int(version) < minimumABI:
		return int(version), fmt.Errorf("this kernel's Landlock ABI is %d; the sandbox needs %d or newer (Linux 6.2)", version, minimumABI)
	}
	return int(version), nil
}

// confine applies steps 1 to 4 of the comment above to this thread.
func confine(abi int, opts options) error {
	// 1. no_new_privs: required by both Landlock and seccomp for an unprivileged process.
	if err := prctl(38 /* PR_SET_NO_NEW_PRIVS */, 1); err != nil {
		return fmt.Errorf("cannot set no_new_privs: %v", err)
	}
	// 2. Landlock.
	if err := restrictFileSystemAndNetwork(abi, opts); err != nil {
		return err
	}
	// 3. seccomp.
	if err := installFilter(opts.network); err != nil {
		return err
	}
	// 4. Nothing opened before (by whoever started us) stays open in the tool.
	if _, _, errno := syscall.Syscall(sysCloseRange, 3, ^uintptr(0), 4 /* CLOSE_RANGE_CLOEXEC */); errno != 0 {
		return fmt.Errorf("cannot mark inherited file descriptors close-on-exec: %v", errno)
	}
	return nil
}

func restrictFileSystemAndNetwork(abi int, opts options) error {
	handledFS := uint64(fsAllABI1)
	if abi >= 2 {
		handledFS |= fsRefer
	}
	if abi >= 3 {
		handledFS |= fsTruncate
	}
	if abi >= 5 {
		handledFS |= fsIoctlDev
	}
	// struct landlock_ruleset_attr: handled_access_fs, handled_access_net (ABI 4), scoped (ABI 6).
	attr := make([]byte, 24)
	size := 8
	binary.NativeEndian.PutUint64(attr[0:], handledFS)
	if abi >= 4 {
		size = 16
		if !opts.network {
			binary.NativeEndian.PutUint64(attr[8:], netBindTCP|netConnTCP)
		}
	}
	if abi >= 6 {
		size = 24
		binary.NativeEndian.PutUint64(attr[16:], scopeAbstract|scopeSignal)
	}
	fd, _, errno := syscall.Syscall(sysLandlockCreateRuleset, uintptr(unsafe.Pointer(&attr[0])), uintptr(size), 0)
	if errno != 0 {
		return fmt.Errorf("cannot create the Landlock ruleset (ABI %d): %v", abi, errno)
	}
	defer syscall.Close(int(fd))
	for _, path := range systemPaths {
		if err := allow(int(fd), path, readExecute&handledFS, true); err != nil {
			return err
		}
	}
	if err := allow(int(fd), "/dev/null", (fsReadFile|fsWriteFile|fsTruncate)&handledFS, true); err != nil {
		return err
	}
	for _, path := range opts.read {
		if err := allow(int(fd), path, readExecute&handledFS, false); err != nil {
			return err
		}
	}
	for _, path := range opts.write {
		if err := allow(int(fd), path, handledFS, false); err != nil {
			return err
		}
	}
	if _, _, errno := syscall.Syscall(sysLandlockRestrictSelf, fd, 0, 0); errno != 0 {
		return fmt.Errorf("cannot enforce the Landlock ruleset: %v", errno)
	}
	return nil
}

// allow adds a path-beneath rule; a file gets only the rights that apply to files. A missing
// optional path (a system folder this distribution does not have) is skipped.
func allow(ruleset int, path string, rights uint64, optional bool) error {
	fd, err := syscall.Open(path, 0x200000 /* O_PATH */ |syscall.O_CLOEXEC, 0)
	if err != nil {
		if optional && errors.Is(err, syscall.ENOENT) {
			return nil
		}
		return fmt.Errorf("cannot open %s to allow it: %v", path, err)
	}
	defer syscall.Close(fd)
	var info syscall.Stat_t
	if err := syscall.Fstat(fd, &info); err != nil {
		return fmt.Errorf("cannot stat %s: %v", path, err)
	}
	if info.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		rights &= fileRights
	}
	// struct landlock_path_beneath_attr, packed: allowed_access (u64), parent_fd (s32).
	var attr [12]byte
	binary.NativeEndian.PutUint64(attr[0:], rights)
	binary.NativeEndian.PutUint32(attr[8:], uint32(fd))
	_, _, errno := syscall.Syscall6(sysLandlockAddRule, uintptr(ruleset), rulePathBeneath, uintptr(unsafe.Pointer(&attr[0])), 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("cannot allow %s: %v", path, errno)
	}
	return nil
}

func prctl(option, value uintptr) error {
	if _, _, errno := syscall.Syscall6(syscall.SYS_PRCTL, option, value, 0, 0, 0, 0); errno != 0 {
		return errno
	}
	return nil
}

func keptEnvironment(names []string) []string {
	env := []string{}
	for _, name := range names {
		if value, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+value)
		}
	}
	return env
}
