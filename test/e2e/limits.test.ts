import test from 'ava';
import { withDaemon } from './harness.js';

const status = (out: string, field: string): string => new RegExp(`^${field}:\\s*(\\S+)`, 'm').exec(out)?.[1] ?? '';

test('the memory limit is the cgroup limit, and a memory hog is OOM-killed with exit 137', async (t) => {
  const d = await withDaemon(t);
  const limit = await d.ok(['run', '--rm', '--memory', '64m', 'busybox', 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max']);
  t.is(limit.trim(), String(64 * 1024 * 1024));
  const hog = await d.cli(['run', '--name', 'hog', '--memory', '32m', '--memory-swap', '32m', 'busybox', 'sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived']);
  t.is(hog.code, 137);
  t.is((await d.ok(['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}}', 'hog'])).trim(), 'true 137');
});

test('the pids limit stops a fork bomb', async (t) => {
  const d = await withDaemon(t);
  const out = await d.cli(['run', '--rm', '--pids-limit', '10', 'busybox', 'sh', '-c', 'for i in $(seq 30); do sleep 5 & done 2>&1 | head -n1; echo done']);
  t.regex(out.stdout + out.stderr, /can't fork|Resource temporarily unavailable|fork/i);
});

test('cpu, cpuset and ulimit settings are visible inside the container', async (t) => {
  const d = await withDaemon(t);
  const quota = await d.ok(['run', '--rm', '--cpus', '0.5', 'busybox', 'sh', '-c', 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d" " -f1 /sys/fs/cgroup/cpu.max']);
  t.is(quota.trim(), '50000');
  const cpuset = await d.ok(['run', '--rm', '--cpuset-cpus', '0', 'busybox', 'sh', '-c', 'grep Cpus_allowed_list /proc/self/status']);
  t.regex(cpuset, /Cpus_allowed_list:\s+0$/m);
  const nofile = await d.ok(['run', '--rm', '--ulimit', 'nofile=512:1024', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn']);
  t.is(nofile, '512\n1024\n');
});

test('isolation defaults: docker capabilities, seccomp filter, masked paths; privileged and cap-drop change them', async (t) => {
  const d = await withDaemon(t);
  const def = await d.ok(['run', '--rm', 'busybox', 'cat', '/proc/self/status']);
  t.is(status(def, 'CapEff'), '00000000a80425fb');
  t.is(status(def, 'Seccomp'), '2');
  t.is(status(def, 'NoNewPrivs'), '0');
  const dropped = await d.ok(['run', '--rm', '--cap-drop', 'ALL', 'busybox', 'cat', '/proc/self/status']);
  t.is(status(dropped, 'CapEff'), '0000000000000000');
  const added = await d.ok(['run', '--rm', '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN', 'busybox', 'cat', '/proc/self/status']);
  t.is(status(added, 'CapEff'), '0000000000001000');
  const nnp = await d.ok(['run', '--rm', '--security-opt', 'no-new-privileges', 'busybox', 'cat', '/proc/self/status']);
  t.is(status(nnp, 'NoNewPrivs'), '1');
  const priv = await d.ok(['run', '--rm', '--privileged', 'busybox', 'cat', '/proc/self/status']);
  t.is(status(priv, 'Seccomp'), '0');
  t.not(status(priv, 'CapEff'), '00000000a80425fb');
  const masked = await d.ok(['run', '--rm', 'busybox', 'sh', '-c', 'wc -c < /proc/timer_list; echo x 2>&1 > /proc/sys/kernel/domainname || true']);
  t.regex(masked, /^0\n/);
  t.regex(masked, /Read-only file system/);
});

test('--read-only and --tmpfs', async (t) => {
  const d = await withDaemon(t);
  const ro = await d.cli(['run', '--rm', '--read-only', 'busybox', 'touch', '/x']);
  t.not(ro.code, 0);
  t.regex(ro.stderr, /Read-only file system/);
  const tmp = await d.ok(['run', '--rm', '--read-only', '--tmpfs', '/scratch:size=1m', 'busybox', 'sh', '-c', 'echo ok > /scratch/f && cat /scratch/f && df -k /scratch | tail -n1']);
  t.regex(tmp, /^ok\n/);
  t.regex(tmp, /\s1024\s/);
});
