package main

// System call numbers and the seccomp architecture of linux/amd64 (arch/x86/entry/syscalls/syscall_64.tbl).
const (
	auditArch          = 0xc000003e // AUDIT_ARCH_X86_64
	sysSocket          = 41
	sysPtrace          = 101
	sysProcessVMReadv  = 310
	sysProcessVMWritev = 311
	sysIoUringSetup    = 425
	sysIoUringEnter    = 426
	sysIoUringRegister = 427
	// x32 system calls carry this bit; the filter refuses them all.
	x32SyscallBit = 0x40000000
)
