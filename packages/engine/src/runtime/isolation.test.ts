// Real runc containers built from buildSpec: what a process inside sees.
// Needs root and runc (CI runs as root).
import test from 'ava';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { cgroupPaths, removeCgroup } from '../cgroups/paths.js';
import { oomKillCount } from '../cgroups/stats.js';
import { Runc } from './runc.js';
import { extractBusybox, removeDir, runSpec, testSpecInput } from './test-bundle.js';
import type { SpecInput } from './spec.js';

const PARENT = `shoal-test-rt-${process.pid}`;
let work = '';
let rootfs = '';
let runc: Runc;
let seq = 0;

test.before(async () => {
  work = await extractBusybox();
  rootfs = path.join(work, 'rootfs');
  runc = new Runc({ root: path.join(work, 'runc') });
});

test.after.always(async () => {
  await removeCgroup(`/${PARENT}`).catch(() => undefined);
  if (work) await removeDir(work);
});

function input(args: string[], extra: Partial<SpecInput> = {}): SpecInput {
  const id = `iso-${process.pid}-${++seq}`;
  return testSpecInput(rootfs, `/${PARENT}/${id}`, args, extra);
}

async function run(args: string[], extra: Partial<SpecInput> = {}) {
  const inp = input(args, extra);
  return runSpec(runc, path.join(work, 'bundles', inp.id), inp);
}

function statusLine(status: string, key: string): string {
  return new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
}

const STATUS = ['cat', '/proc/self/status'];
// Docker's default set as a CapEff mask (chown, dac_override, fowner, fsetid, kill,
// setgid, setuid, setpcap, net_bind_service, net_raw, sys_chroot, mknod, audit_write, setfcap).
const DOCKER_DEFAULT_CAPS = '00000000a80425fb';

test('a default container has Docker’s capabilities, a seccomp filter and may gain privileges', async (t) => {
  const r = await run(STATUS);
  t.is(r.exitCode, 0, r.stderr);
  t.is(statusLine(r.stdout, 'CapEff'), DOCKER_DEFAULT_CAPS);
  t.is(statusLine(r.stdout, 'CapBnd'), DOCKER_DEFAULT_CAPS);
  t.is(statusLine(r.stdout, 'CapInh'), '0000000000000000');
  t.is(statusLine(r.stdout, 'Seccomp'), '2');
  t.is(statusLine(r.stdout, 'NoNewPrivs'), '0');
});

test('--privileged gets every capability and no seccomp filter', async (t) => {
  const r = await run(STATUS, { privileged: true });
  t.is(r.exitCode, 0, r.stderr);
  const host = statusLine(await readFile('/proc/self/status', 'utf8'), 'CapBnd');
  t.is(statusLine(r.stdout, 'CapEff'), host);
  t.is(statusLine(r.stdout, 'Seccomp'), '0');
});

test('--cap-drop ALL leaves no capability; --cap-add puts one back', async (t) => {
  const none = await run(STATUS, { capDrop: ['ALL'] });
  t.is(statusLine(none.stdout, 'CapEff'), '0000000000000000');
  const one = await run(STATUS, { capDrop: ['ALL'], capAdd: ['net_raw'] });
  t.is(statusLine(one.stdout, 'CapEff'), '0000000000002000');
});

test('no-new-privileges shows in /proc/self/status', async (t) => {
  const r = await run(STATUS, { noNewPrivileges: true });
  t.is(statusLine(r.stdout, 'NoNewPrivs'), '1');
});

test('a non-root user starts with no effective capabilities', async (t) => {
  const r = await run(STATUS, { user: { uid: 1000, gid: 1000 } });
  t.is(r.exitCode, 0, r.stderr);
  t.is(statusLine(r.stdout, 'CapEff'), '0000000000000000');
  t.is(statusLine(r.stdout, 'CapBnd'), DOCKER_DEFAULT_CAPS);
  t.regex(statusLine(r.stdout, 'Uid'), /^1000\s/);
});

test('the default seccomp profile refuses unshare and mount; --cap-add SYS_ADMIN lifts the gate', async (t) => {
  const denied = await run(['unshare', '-m', 'true']);
  t.not(denied.exitCode, 0);
  t.regex(denied.stderr, /Operation not permitted/);
  const allowed = await run(['unshare', '-m', 'true'], { capAdd: ['SYS_ADMIN'] });
  t.is(allowed.exitCode, 0, allowed.stderr);
});

test('masked paths read empty and /proc/sys is read-only', async (t) => {
  // /proc/timer_list has content on the host; masked, it is /dev/null.
  const r = await run(['sh', '-c', 'wc -c < /proc/timer_list; echo 1 > /proc/sys/kernel/domainname && echo wrote || echo refused']);
  t.is(r.stdout.trim().split('\n')[0]?.trim(), '0');
  t.regex(r.stdout, /refused/);
});

test('--read-only makes the rootfs read-only while --tmpfs stays writable and noexec', async (t) => {
  const r = await run(
    ['sh', '-c', 'touch /x 2>/dev/null && echo rootfs-writable; touch /scratch/y && echo tmpfs-ok; grep " /scratch " /proc/mounts'],
    { readonlyRootfs: true, tmpfs: { '/scratch': 'size=1m' } },
  );
  t.notRegex(r.stdout, /rootfs-writable/);
  t.regex(r.stdout, /tmpfs-ok/);
  t.regex(r.stdout, /\/scratch tmpfs [^ ]*nosuid,nodev,noexec/);
  t.regex(r.stdout, /size=1024k/);
});

test('--network none gives only a loopback interface', async (t) => {
  const r = await run(['sh', '-c', 'ls /sys/class/net']);
  t.is(r.stdout.trim(), 'lo');
});

const initTest = existsSync('/usr/bin/tini-static') ? test : test.skip;
initTest('--init runs docker-init as pid 1', async (t) => {
  const r = await run(['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "'], { init: '/usr/bin/tini-static' });
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /^\/sbin\/docker-init -- sh/);
});

test('the memory limit is the cgroup file value', async (t) => {
  const inp = input(['sleep', '0'], { resources: { memory: 64 * 1024 * 1024 } });
  const { v1, unified } = cgroupPaths(inp.cgroupsPath);
  const file = unified ? 'memory.max' : 'memory.limit_in_bytes';
  const r = await runSpec(runc, path.join(work, 'bundles', inp.id), {
    ...inp,
    args: ['cat', unified ? '/sys/fs/cgroup/memory.max' : '/sys/fs/cgroup/memory/memory.limit_in_bytes'],
  });
  t.is(r.exitCode, 0, `${r.stderr} (${v1.memory ?? unified ?? ''}/${file})`);
  t.is(r.stdout.trim(), String(64 * 1024 * 1024));
});

test('--pids-limit stops a fork bomb', async (t) => {
  const inp = input(['sh', '-c', 'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; for i in $(seq 30); do sleep 5 & done'], {
    resources: { pidsLimit: 10 },
  });
  const r = await runSpec(runc, path.join(work, 'bundles', inp.id), inp);
  t.is(r.stdout.split('\n')[0], '10');
  t.regex(r.stderr, /can't fork/);
});

test('a memory hog is OOM-killed: exit 137 and oom_kill counted', async (t) => {
  const inp = input(['sh', '-c', 'x=$(head -c 200m /dev/zero | tr "\\0" a); echo survived'], {
    resources: { memory: 32 * 1024 * 1024, memorySwap: 32 * 1024 * 1024 },
  });
  let oom = -1;
  const r = await runSpec(runc, path.join(work, 'bundles', inp.id), inp, async () => {
    oom = await oomKillCount(inp.cgroupsPath);
  });
  t.is(r.exitCode, 137, r.stderr);
  t.notRegex(r.stdout, /survived/);
  t.is(oom, 1);
});
