// cgroup mode detection on sample mountinfo, and stats from a real cgroup
// the test creates (needs root).
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cgroupMounts, parseCgroupMounts } from './mode.js';
import { cgroupDirs, cgroupPaths, normalizeCgroupsPath, removeCgroup } from './paths.js';
import { cgroupStats, cpuPercent, oomKillCount } from './stats.js';

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate`;
const V2 = `31 23 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;

test('mountinfo: hybrid, v1 and v2 are told apart; co-mounted controllers share a path', (t) => {
  const h = parseCgroupMounts(HYBRID);
  t.is(h.mode, 'hybrid');
  t.is(h.unified, '/sys/fs/cgroup/unified');
  t.is(h.v1.get('cpu'), '/sys/fs/cgroup/cpu,cpuacct');
  t.is(h.v1.get('cpuacct'), '/sys/fs/cgroup/cpu,cpuacct');
  t.is(parseCgroupMounts(HYBRID.split('\n').slice(0, 4).join('\n')).mode, 'v1');
  const v2 = parseCgroupMounts(V2);
  t.is(v2.mode, 'v2');
  t.deepEqual(cgroupPaths('/shoal/abc', v2), { mode: 'v2', unified: '/sys/fs/cgroup/shoal/abc', v1: {} });
  t.is(cgroupPaths('shoal/abc', h).v1.memory, '/sys/fs/cgroup/memory/shoal/abc');
});

test('cgroup paths refuse ".." and empty paths', (t) => {
  t.is(normalizeCgroupsPath('shoal//x/'), '/shoal/x');
  t.throws(() => normalizeCgroupsPath('/shoal/../etc'), { message: /invalid cgroup path/ });
  t.throws(() => normalizeCgroupsPath('/'), { message: /invalid cgroup path/ });
});

test('cpuPercent is docker’s formula', (t) => {
  // 0.5 s of container CPU over 2 s of host CPU time on 2 CPUs = 50%.
  t.is(cpuPercent({ usageNs: 0, systemUsageNs: 0 }, { usageNs: 5e8, systemUsageNs: 2e9 }, 2), 50);
  t.is(cpuPercent({ usageNs: 10, systemUsageNs: 10 }, { usageNs: 10, systemUsageNs: 20 }, 2), 0);
});

test('stats of a real cgroup: pids, memory limit, cpu, no OOM; removeCgroup cleans up', async (t) => {
  const cg = `/shoal-test-cg-${process.pid}/stats`;
  const paths = cgroupPaths(cg);
  const dirs = cgroupDirs(paths);
  for (const d of dirs) await mkdir(d, { recursive: true });
  t.teardown(() => removeCgroup(`/shoal-test-cg-${process.pid}`).catch(() => undefined));
  const limit = 64 * 1024 * 1024;
  if (paths.unified && paths.mode === 'v2') {
    await writeFile(path.join(paths.unified, 'memory.max'), String(limit));
    await writeFile(path.join(paths.unified, 'pids.max'), '50');
  } else {
    await writeFile(path.join(paths.v1.memory ?? '', 'memory.limit_in_bytes'), String(limit));
    await writeFile(path.join(paths.v1.pids ?? '', 'pids.max'), '50');
  }
  // A busy shell loop for a moment, then a sleep, placed in the cgroup.
  const child = spawn('sh', ['-c', 'read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 30'], { stdio: ['pipe', 'ignore', 'ignore'] });
  t.teardown(() => child.kill('SIGKILL'));
  const pid = String(child.pid);
  // cpuset is skipped: a new v1 cpuset cgroup has no CPUs until configured.
  for (const d of dirs) if (!d.includes('/cpuset/') && existsSync(path.join(d, 'cgroup.procs'))) await writeFile(path.join(d, 'cgroup.procs'), pid);
  const before = await cgroupStats(cg);
  child.stdin.end('go\n');
  await new Promise((r) => setTimeout(r, 400));
  const after = await cgroupStats(cg);
  t.is(after.pids.current, 2, 'the shell and its sleep');
  t.is(after.pids.limit, 50);
  t.is(after.memory.limit, limit);
  t.true(after.memory.usage > 0 && after.memory.usage < limit);
  t.true(after.cpu.usageNs > before.cpu.usageNs, 'the loop used CPU');
  t.true(after.cpu.systemUsageNs > before.cpu.systemUsageNs);
  t.true(cpuPercent(before.cpu, after.cpu, after.cpu.onlineCpus) > 0);
  t.is(after.memory.oomKills, 0);
  t.is(await oomKillCount(cg), 0);
  t.is(after.freezer, 'THAWED');

  await t.throwsAsync(removeCgroup(cg), { message: /still has processes/ });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('close', r));
  // The sleep was the shell's child: kill whatever is left in the cgroup.
  const procs = (await readFile(path.join(paths.unified ?? paths.v1.pids ?? '', 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean);
  for (const p of procs) process.kill(Number(p), 'SIGKILL');
  await removeCgroup(cg);
  for (const d of dirs) t.false(existsSync(d), d);
});

test('this host’s mode is detected', (t) => {
  const m = cgroupMounts();
  t.true(['v1', 'hybrid', 'v2'].includes(m.mode));
  if (m.mode !== 'v2') t.true(m.v1.has('memory'));
});
