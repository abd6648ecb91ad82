import test from 'ava';
import { ErrorCode, errorCode } from '@shoal/api';
import { DEFAULT_CAPABILITIES, effectiveCapabilities, hostCapabilities } from './capabilities.js';
import { ociJson } from './oci.js';
import { parseSecurityOpts } from './security-opts.js';
import { buildSpec, DEFAULT_MASKED_PATHS, INIT_PATH, tmpfsMount, type SpecInput } from './spec.js';

const base: SpecInput = {
  id: 'c1',
  rootfsPath: '/var/lib/shoal/rootfs/c1',
  args: ['sh'],
  env: ['FOO=bar'],
  user: { uid: 0, gid: 0 },
  networkMode: 'none',
  cgroupsPath: '/shoal/c1',
};
const opts = { cgroupMode: 'hybrid' as const, availableCpus: '0-1', swapSupported: true };
const build = (extra: Partial<SpecInput> = {}) => buildSpec({ ...base, ...extra }, opts);
const errCode = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return errorCode(err);
  }
};

test('defaults: Docker’s capabilities in bounding/effective/permitted, none inheritable', (t) => {
  const s = build();
  t.deepEqual([...(s.process.capabilities?.bounding ?? [])].sort(), [...DEFAULT_CAPABILITIES].sort());
  t.deepEqual(s.process.capabilities?.effective, s.process.capabilities?.bounding);
  t.deepEqual(s.process.capabilities?.permitted, s.process.capabilities?.bounding);
  t.is(s.process.capabilities?.inheritable, undefined);
  t.is(s.process.noNewPrivileges, false);
  t.is(s.ociVersion, '1.0.2');
});

test('a non-root user keeps only the bounding set', (t) => {
  const s = build({ user: { uid: 1000, gid: 1000, additionalGids: [10] } });
  t.truthy(s.process.capabilities?.bounding?.length);
  t.is(s.process.capabilities?.effective, undefined);
  t.deepEqual(s.process.user, { uid: 1000, gid: 1000, additionalGids: [10] });
});

test('cap-add/cap-drop follow Docker: names with or without CAP_, ALL, unknown names refused', (t) => {
  const caps = effectiveCapabilities({ capAdd: ['net_admin'], capDrop: ['CAP_CHOWN', 'mknod'] });
  t.true(caps.includes('CAP_NET_ADMIN'));
  t.false(caps.includes('CAP_CHOWN'));
  t.false(caps.includes('CAP_MKNOD'));
  t.deepEqual(effectiveCapabilities({ capDrop: ['ALL'] }), []);
  t.deepEqual(effectiveCapabilities({ capDrop: ['all'], capAdd: ['kill'] }), ['CAP_KILL']);
  const all = effectiveCapabilities({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN'] });
  t.false(all.includes('CAP_SYS_ADMIN'));
  t.is(all.length, hostCapabilities().length - (hostCapabilities().includes('CAP_SYS_ADMIN') ? 1 : 0));
  t.throws(() => build({ capAdd: ['FOO'] }), { message: /^unknown capability: CAP_FOO/ });
  t.is(errCode(() => build({ capDrop: ['CAP_NOPE'] })), ErrorCode.InvalidArgument);
});

test('namespaces follow the network mode; cgroup namespace only on cgroup v2', (t) => {
  const types = (s: ReturnType<typeof build>) => s.linux.namespaces.map((n) => n.type).sort();
  t.deepEqual(types(build()), ['ipc', 'mount', 'network', 'pid', 'uts']);
  t.deepEqual(types(build({ networkMode: 'host' })), ['ipc', 'mount', 'pid', 'uts']);
  const joined = build({ networkMode: { netnsPath: '/run/netns/x' } });
  t.deepEqual(joined.linux.namespaces.find((n) => n.type === 'network'), { type: 'network', path: '/run/netns/x' });
  const v2 = buildSpec(base, { ...opts, cgroupMode: 'v2' });
  t.true(v2.linux.namespaces.some((n) => n.type === 'cgroup'));
  t.is(build({ networkMode: 'host' }).linux.sysctl, undefined);
});

test('standard mounts, masked and read-only paths, device allowlist', (t) => {
  const s = build();
  const dests = s.mounts.map((m) => m.destination);
  for (const d of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup']) t.true(dests.includes(d), d);
  t.true(s.mounts.find((m) => m.destination === '/sys')?.options?.includes('ro'));
  t.true(s.mounts.find((m) => m.destination === '/dev/shm')?.options?.includes(`size=${64 * 1024 * 1024}`));
  t.true(s.linux.maskedPaths?.includes('/proc/kcore'));
  t.true(s.linux.maskedPaths?.includes('/sys/firmware'));
  t.true(s.linux.readonlyPaths?.includes('/proc/sys'));
  t.true(s.linux.readonlyPaths?.includes('/proc/sysrq-trigger'));
  const devs = s.linux.resources?.devices ?? [];
  t.deepEqual(devs[0], { allow: false, access: 'rwm' });
  t.true(devs.some((d) => d.allow && d.type === 'c' && d.major === 1 && d.minor === 3));
  t.false(devs.some((d) => d.allow && d.type === undefined));
  t.is(s.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
});

test('privileged: all capabilities, no seccomp, no masking, every device, /sys writable', (t) => {
  const s = build({ privileged: true });
  t.deepEqual(s.process.capabilities?.bounding, [...hostCapabilities()]);
  t.is(s.linux.seccomp, undefined);
  t.is(s.linux.maskedPaths, undefined);
  t.is(s.linux.readonlyPaths, undefined);
  t.deepEqual(s.linux.resources?.devices, [{ allow: true, access: 'rwm' }]);
  t.true((s.linux.devices ?? []).some((d) => d.path === '/dev/null'));
  t.false(s.mounts.find((m) => m.destination === '/sys')?.options?.includes('ro'));
});

test('read-only rootfs, user, terminal, hostname, env defaults, oom score', (t) => {
  const s = build({ readonlyRootfs: true, terminal: true, hostname: 'web', cwd: '/app', oomScoreAdj: 500, user: { uid: 0, gid: 0, home: '/root' } });
  t.true(s.root.readonly);
  t.true(s.process.terminal);
  t.is(s.hostname, 'web');
  t.is(s.process.cwd, '/app');
  t.is(s.process.oomScoreAdj, 500);
  t.true(s.process.env?.some((e) => e.startsWith('PATH=')));
  t.true(s.process.env?.includes('HOSTNAME=web'));
  t.true(s.process.env?.includes('TERM=xterm'));
  t.true(s.process.env?.includes('HOME=/root'));
  t.true(s.process.env?.includes('FOO=bar'));
  t.is(errCode(() => build({ oomScoreAdj: 2000 })), ErrorCode.InvalidArgument);
  t.is(errCode(() => build({ args: [] })), ErrorCode.InvalidArgument);
});

test('--tmpfs gets noexec,nosuid,nodev unless overridden; a relative path is refused', (t) => {
  t.deepEqual(tmpfsMount('/run', 'size=64m').options, ['noexec', 'nosuid', 'nodev', 'size=64m']);
  t.deepEqual(tmpfsMount('/run', 'exec,mode=1777').options, ['nosuid', 'nodev', 'exec', 'mode=1777']);
  t.throws(() => tmpfsMount('run', ''), { message: /must be absolute/ });
  const s = build({ tmpfs: { '/dev/shm': 'size=1m' } });
  const shm = s.mounts.filter((m) => m.destination === '/dev/shm');
  t.is(shm.length, 1, 'a user mount replaces the default one');
  t.true(shm[0]?.options?.includes('size=1m'));
});

test('mounts are ordered parents first and duplicates are refused', (t) => {
  const s = build({
    mounts: [
      { destination: '/data/sub', type: 'bind', source: '/a', options: ['rbind'] },
      { destination: '/data', type: 'bind', source: '/b', options: ['rbind'] },
    ],
  });
  const d = s.mounts.map((m) => m.destination);
  t.true(d.indexOf('/data') < d.indexOf('/data/sub'));
  t.throws(() => build({ mounts: [{ destination: '/x', source: '/a' }, { destination: '/x/', source: '/b' }] }), { message: /Duplicate mount point: \/x/ });
});

test('--init runs docker-init from a read-only bind', (t) => {
  const s = build({ init: '/usr/bin/tini-static', args: ['sleep', '1'] });
  t.deepEqual(s.process.args, [INIT_PATH, '--', 'sleep', '1']);
  const m = s.mounts.find((x) => x.destination === INIT_PATH);
  t.is(m?.source, '/usr/bin/tini-static');
  t.true(m?.options?.includes('ro'));
});

test('ulimits become rlimits; unlimited is written as 2^64-1', (t) => {
  const s = build({ ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }, { name: 'core', soft: -1, hard: -1 }] });
  t.deepEqual(s.process.rlimits?.find((r) => r.type === 'RLIMIT_NOFILE'), { type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 });
  t.regex(ociJson(s), /"type":"RLIMIT_CORE","soft":18446744073709551615,"hard":18446744073709551615/);
});

test('resources are validated and converted inside the spec', (t) => {
  const s = build({ resources: { memory: 64 * 1024 * 1024, nanoCpus: 1_500_000_000, pidsLimit: 10 } });
  t.is(s.linux.resources?.memory?.limit, 64 * 1024 * 1024);
  t.is(s.linux.resources?.cpu?.quota, 150000);
  t.is(s.linux.resources?.pids?.limit, 10);
  t.is(errCode(() => build({ resources: { memorySwap: 1024 * 1024 * 1024 } })), ErrorCode.InvalidArgument);
});

test('security options: no-new-privileges, seccomp unconfined or a profile, apparmor ignored, unknown refused', async (t) => {
  const a = await parseSecurityOpts(['no-new-privileges']);
  t.true(a.noNewPrivileges);
  t.false((await parseSecurityOpts(['no-new-privileges:false'])).noNewPrivileges);
  t.true((await parseSecurityOpts(['no-new-privileges=true'])).noNewPrivileges);
  t.is((await parseSecurityOpts(['seccomp=unconfined'])).seccomp, 'unconfined');
  const prof = await parseSecurityOpts(['seccomp=/p.json'], { readProfile: async () => '{"defaultAction":"SCMP_ACT_ALLOW"}' });
  t.deepEqual(prof.seccomp, { profileJson: '{"defaultAction":"SCMP_ACT_ALLOW"}' });
  const aa = await parseSecurityOpts(['apparmor=docker-default', 'label=disable']);
  t.is(aa.warnings.length, 2);
  await t.throwsAsync(parseSecurityOpts(['bogus=1']), { message: /^invalid --security-opt 'bogus=1'/ });
  await t.throwsAsync(parseSecurityOpts(['seccomp=/does/not/exist.json']), { message: /cannot read seccomp profile/ });
  t.is(build({ seccomp: 'unconfined' }).linux.seccomp, undefined);
  t.is(build({ seccomp: { profileJson: '{"defaultAction":"SCMP_ACT_LOG"}' } }).linux.seccomp?.defaultAction, 'SCMP_ACT_LOG');
  t.true(build({ noNewPrivileges: true }).process.noNewPrivileges);
  t.is(build({ unmaskSystemPaths: true }).linux.maskedPaths, undefined);
  t.true(DEFAULT_MASKED_PATHS.includes('/proc/keys'));
});
