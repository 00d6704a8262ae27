package main

import (
	"fmt"
	"syscall"
	"unsafe"
)

// Classic BPF, as seccomp reads it (include/uapi/linux/filter.h, seccomp.h).
const (
	bpfLoadWord = 0x20 // BPF_LD | BPF_W | BPF_ABS
	bpfJumpEq   = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	bpfJumpGE   = 0x35 // BPF_JMP | BPF_JGE | BPF_K
	bpfReturn   = 0x06 // BPF_RET | BPF_K

	retAllow       = 0x7fff0000
	retErrno       = 0x00050000
	retKillProcess = 0x80000000

	// Offsets in struct seccomp_data: nr, arch, args[0] (its low word on little-endian machines).
	offsetNr   = 0
	offsetArch = 4
	offsetArg0 = 16

	seccompModeFilter = 2
	afInet            = 2
	afInet6           = 10
)

type sockFilter struct {
	code uint16
	jt   uint8
	jf   uint8
	k    uint32
}

type sockFprog struct {
	len    uint16
	filter *sockFilter
}

func load(offset uint32) sockFilter { return sockFilter{code: bpfLoadWord, k: offset} }
func ret(action uint32) sockFilter  { return sockFilter{code: bpfReturn, k: action} }
func errno(e syscall.Errno) uint32  { return retErrno | uint32(e) }
func skipUnlessEq(value uint32) sockFilter {
	return sockFilter{code: bpfJumpEq, jt: 0, jf: 1, k: value}
}

// refuse returns the two instructions "if the loaded value is nr, return action".
func refuse(nr uint32, action uint32) []sockFilter {
	return []sockFilter{skipUnlessEq(nr), ret(action)}
}

// filterProgram is step 3 of main.go's comment.
func filterProgram(network bool) []sockFilter {
	program := []sockFilter{
		// Another architecture's system calls (i386 on amd64) would dodge the numbers below.
		load(offsetArch),
		{code: bpfJumpEq, jt: 1, jf: 0, k: auditArch},
		ret(retKillProcess),
		load(offsetNr),
		{code: bpfJumpGE, jt: 0, jf: 1, k: x32SyscallBit},
		ret(errno(syscall.ENOSYS)),
	}
	for _, nr := range []uint32{sysPtrace, sysProcessVMReadv, sysProcessVMWritev} {
		program = append(program, refuse(nr, errno(syscall.EPERM))...)
	}
	for _, nr := range []uint32{sysIoUringSetup, sysIoUringEnter, sysIoUringRegister} {
		program = append(program, refuse(nr, errno(syscall.ENOSYS))...)
	}
	// socket(): past this point only when the call is socket.
	program = append(program, sockFilter{code: bpfJumpEq, jt: 1, jf: 0, k: sysSocket}, ret(retAllow), load(offsetArg0))
	if network {
		program = append(program, skipUnlessEq(afInet), ret(retAllow), skipUnlessEq(afInet6), ret(retAllow))
	}
	return append(program, ret(errno(syscall.EACCES)))
}

func installFilter(network bool) error {
	program := filterProgram(network)
	prog := sockFprog{len: uint16(len(program)), filter: &program[0]}
	_, _, e := syscall.Syscall(syscall.SYS_PRCTL, syscall.PR_SET_SECCOMP, seccompModeFilter, uintptr(unsafe.Pointer(&prog)))
	if e != 0 {
		return fmt.Errorf("cannot install the seccomp filter: %v", e)
	}
	return nil
}
