// Command seccomp writes deploy/seccomp/render-sandbox.json: the seccomp profile under which Capstan's
// agent can run its render sandbox (bubblewrap) in a pod. It is containerd's default profile (the one
// RuntimeDefault means on containerd, for a container without capabilities), from the pinned
// containerd module, with one rule changed: clone without its namespace-flag restriction, and unshare,
// mount, umount2, pivot_root and chroot allowed. These are what bwrap needs to make its user, mount,
// network, PID, IPC and UTS namespaces as an unprivileged user; everything else the default profile
// refuses stays refused. See docs/security.md for the trade-off.
//
//	cd scripts/seccomp && go run . > ../../deploy/seccomp/render-sandbox.json
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// sandboxSyscalls are allowed without argument filters: bwrap's namespaces and its new root.
var sandboxSyscalls = []string{"clone", "unshare", "mount", "umount2", "pivot_root", "chroot"}

func main() {
	// No capabilities: the agent drops them all (restricted Pod Security Standard).
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	profile := seccomp.DefaultProfile(spec)
	// The default profile's clone rule allows clone only without namespace flags: replaced below.
	profile.Syscalls = slices.DeleteFunc(profile.Syscalls, func(rule specs.LinuxSyscall) bool {
		return slices.Equal(rule.Names, []string{"clone"})
	})
	for _, rule := range profile.Syscalls {
		for _, name := range sandboxSyscalls {
			if rule.Action == specs.ActAllow && len(rule.Args) == 0 && slices.Contains(rule.Names, name) {
				fail(fmt.Errorf("%s is already allowed by the default profile: update sandboxSyscalls", name))
			}
		}
	}
	profile.Syscalls = append(profile.Syscalls, specs.LinuxSyscall{Names: sandboxSyscalls, Action: specs.ActAllow})
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(profile); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "seccomp: %v\n", err)
	os.Exit(1)
}
