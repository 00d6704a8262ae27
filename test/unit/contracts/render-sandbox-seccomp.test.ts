// deploy/seccomp/render-sandbox.json (written by scripts/seccomp): containerd's default profile with
// only what bubblewrap needs added. Its use in a pod is proven by agent-pod.node.test.ts; this checks
// the file's shape: an allow-list that still refuses what the default profile refuses.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

interface Rule {
  readonly names: readonly string[];
  readonly action: string;
  readonly args?: readonly unknown[];
}

const PROFILE = join(import.meta.dirname, '..', '..', '..', 'deploy', 'seccomp', 'render-sandbox.json');
const profile = JSON.parse(await readFile(PROFILE, 'utf8')) as {
  defaultAction: string;
  syscalls: readonly Rule[];
};
/** Syscalls allowed whatever their arguments. */
const unconditional = new Set(
  profile.syscalls
    .filter((r) => r.action === 'SCMP_ACT_ALLOW' && (r.args ?? []).length === 0)
    .flatMap((r) => r.names),
);

describe('the render sandbox seccomp profile', () => {
  it('refuses every syscall it does not name', () => {
    assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
  });

  it('allows what bwrap needs to make its namespaces and its new root', () => {
    for (const name of ['clone', 'unshare', 'mount', 'umount2', 'pivot_root', 'chroot'])
      assert.ok(unconditional.has(name), `${name} is allowed`);
  });

  it('still refuses what the default profile refuses a container without capabilities', () => {
    for (const name of [
      'bpf',
      'setns',
      'keyctl',
      'add_key',
      'kexec_load',
      'init_module',
      'finit_module',
      'delete_module',
      'open_by_handle_at',
      'perf_event_open',
      'syslog',
      'reboot',
      'swapon',
      'sethostname',
    ])
      assert.ok(
        !profile.syscalls.some((r) => r.action === 'SCMP_ACT_ALLOW' && r.names.includes(name)),
        `${name} is refused`,
      );
  });
});
