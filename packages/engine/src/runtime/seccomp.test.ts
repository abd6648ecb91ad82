import test from 'ava';
import { compileSeccomp, defaultSeccomp, DEFAULT_SECCOMP_PROFILE, seccompFromDockerJson } from './seccomp.js';
import { DEFAULT_CAPABILITIES } from './capabilities.js';
import type { OciSeccomp } from './oci.js';

const allowed = (s: OciSeccomp, name: string): boolean =>
  (s.syscalls ?? []).some((c) => c.action === 'SCMP_ACT_ALLOW' && c.names.includes(name) && !c.args);
const rulesFor = (s: OciSeccomp, name: string) => (s.syscalls ?? []).filter((c) => c.names.includes(name));

test('the default profile denies with EPERM and allows the common syscalls', (t) => {
  const s = defaultSeccomp(DEFAULT_CAPABILITIES);
  t.is(s.defaultAction, 'SCMP_ACT_ERRNO');
  t.is(s.defaultErrnoRet, 1);
  for (const name of ['read', 'write', 'openat', 'execve', 'clone3', 'chroot']) {
    t.true(rulesFor(s, name).length > 0, name);
  }
  t.true(allowed(s, 'chroot'), 'CAP_SYS_CHROOT is in the default set');
  t.true(allowed(s, 'ptrace'), 'Docker allows ptrace on kernels from 4.8');
  for (const name of ['mount', 'unshare', 'setns', 'reboot', 'init_module', 'settimeofday', 'io_uring_setup', 'keyctl', 'add_key']) {
    t.false(allowed(s, name), name);
  }
});

test('amd64 gets the x86 architectures and arch_prctl', (t) => {
  const s = compileSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: [], arch: 'amd64' });
  t.deepEqual(s.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  t.true(allowed(s, 'arch_prctl'));
  t.false(allowed(s, 'set_tls'));
  const arm = compileSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: [], arch: 'arm64' });
  t.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  t.true(allowed(arm, 'set_tls'));
});

test('clone is allowed only without namespace flags, and clone3 says ENOSYS, unless CAP_SYS_ADMIN', (t) => {
  const s = compileSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: DEFAULT_CAPABILITIES, arch: 'amd64' });
  const clone = rulesFor(s, 'clone');
  t.is(clone.length, 1);
  t.deepEqual(clone[0]?.args, [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
  t.deepEqual(rulesFor(s, 'clone3'), [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);

  const admin = compileSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], arch: 'amd64' });
  t.true(allowed(admin, 'clone'));
  t.true(allowed(admin, 'clone3'));
  t.true(allowed(admin, 'mount'));
  t.true(allowed(admin, 'setns'));
  t.false(rulesFor(admin, 'clone3').some((c) => c.action === 'SCMP_ACT_ERRNO'));
});

test('capability-gated syscalls follow added capabilities', (t) => {
  const s = defaultSeccomp(['CAP_SYS_PTRACE', 'CAP_SYS_TIME', 'CAP_SYS_MODULE', 'CAP_SYS_BOOT', 'CAP_SYS_NICE']);
  for (const name of ['ptrace', 'process_vm_readv', 'settimeofday', 'clock_settime', 'init_module', 'reboot', 'mbind']) {
    t.true(allowed(s, name), name);
  }
  t.false(allowed(s, 'chroot'), 'chroot needs CAP_SYS_CHROOT');
});

test('personality and socket are allowed only with safe arguments', (t) => {
  const s = defaultSeccomp([]);
  t.deepEqual(rulesFor(s, 'personality').map((r) => r.args?.[0]?.value), [0, 8, 0x20000, 0x20008, 0xffffffff]);
  t.deepEqual(rulesFor(s, 'socket')[0]?.args, [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }]);
});

test('a Docker-format profile file converts, with name/names and include/exclude', (t) => {
  const profile = JSON.stringify({
    defaultAction: 'SCMP_ACT_ERRNO',
    architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [
      { name: 'read', action: 'SCMP_ACT_ALLOW' },
      { names: ['write', 'close'], action: 'SCMP_ACT_ALLOW', args: null },
      { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, excludes: { caps: ['CAP_KILL'] } },
    ],
  });
  const s = seccompFromDockerJson(profile, ['CAP_KILL']);
  t.deepEqual(s, {
    defaultAction: 'SCMP_ACT_ERRNO',
    architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [
      { names: ['read'], action: 'SCMP_ACT_ALLOW' },
      { names: ['write', 'close'], action: 'SCMP_ACT_ALLOW' },
    ],
  });
  t.throws(() => seccompFromDockerJson('not json', []), { message: /not valid JSON/ });
  t.throws(() => seccompFromDockerJson('{}', []), { message: /no "defaultAction"/ });
  t.throws(() => seccompFromDockerJson('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ALLOW"}]}', []), {
    message: /both "name"/,
  });
});
