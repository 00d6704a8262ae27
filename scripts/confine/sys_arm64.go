package main

// System call numbers and the seccomp architecture of linux/arm64 (include/uapi/asm-generic/unistd.h).
const (
	auditArch          = 0xc00000b7 // AUDIT_ARCH_AARCH64
	sysSocket          = 198
	sysPtrace          = 117
	sysProcessVMReadv  = 270
	sysProcessVMWritev = 271
	sysIoUringSetup    = 425
	sysIoUringEnter    = 426
	sysIoUringRegister = 427
	// No second ABI on arm64: no number is that high.
	x32SyscallBit = 0x40000000
)
