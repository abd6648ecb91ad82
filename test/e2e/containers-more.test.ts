import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { withDaemon, eventually, SHOAL_BIN } from './harness.js';

const execFileP = promisify(execFile);

test('-t gives the process a real terminal; -i forwards stdin', async (t) => {
  const d = await withDaemon(t);
  // script(1) gives the CLI a real terminal, as a person's shell would.
  const { stdout } = await execFileP('script', ['-qec', `${SHOAL_BIN} -H ${d.host} run -it --rm busybox sh -c 'tty; echo TERM=$TERM'`, '/dev/null'], { timeout: 30_000 });
  t.regex(stdout, /\/dev\/pts\/\d+/);
  t.regex(stdout, /TERM=xterm/);
  const piped = await d.ok(['run', '-i', '--rm', 'busybox', 'sh', '-c', 'tr a-z A-Z'], { input: 'shout\n' });
  t.is(piped, 'SHOUT\n');
});

test('--init runs the process under an init as PID 1', async (t) => {
  const d = await withDaemon(t);
  const out = await d.ok(['run', '--rm', '--init', 'busybox', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "']);
  t.regex(out, /^\/sbin\/docker-init -- sh/);
  const plain = await d.ok(['run', '--rm', 'busybox', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "']);
  t.regex(plain, /^sh -c/);
});

test('--env-file, --stop-signal and --stop-timeout are honoured', async (t) => {
  const d = await withDaemon(t);
  const dir = await mkdtemp(join(tmpdir(), 'shoal-env-'));
  await writeFile(join(dir, 'env'), '# comment\nA=1\nB=two words\n');
  t.is(await d.ok(['run', '--rm', '--env-file', join(dir, 'env'), 'busybox', 'sh', '-c', 'echo "$A|$B"']), '1|two words\n');
  await d.ok(['run', '-d', '--name', 'sig', '--stop-signal', 'USR1', '--stop-timeout', '1', 'busybox', 'sh', '-c', 'trap "echo usr1; exit 9" USR1; while true; do sleep 0.1; done']);
  t.is((await d.ok(['inspect', '-f', '{{.Config.StopSignal}}', 'sig'])).trim(), 'USR1');
  await d.ok(['stop', 'sig']);
  t.is((await d.ok(['inspect', '-f', '{{.State.ExitCode}}', 'sig'])).trim(), '9');
  t.is(await d.ok(['logs', 'sig']), 'usr1\n');
});

test('logs -f follows until the container exits; --since filters by time', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '-d', '--name', 'ff', 'busybox', 'sh', '-c', 'echo one; sleep 1; echo two']);
  const followed = await d.ok(['logs', '-f', 'ff'], { timeoutMs: 20_000 });
  t.is(followed, 'one\ntwo\n');
  const future = new Date(Date.now() + 60_000).toISOString();
  t.is(await d.ok(['logs', '--since', future, 'ff']), '');
});

test('json-file logs rotate at max-size and keep at most max-file files', async (t) => {
  const d = await withDaemon(t);
  const id = (await d.ok(['run', '-d', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=2', 'busybox', 'sh', '-c', 'for i in $(seq 200); do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxx; done'])).trim();
  await d.ok(['wait', id]);
  const files = (await readdir(join(d.dataRoot, 'containers', id))).filter((f) => f.includes('-json.log'));
  t.deepEqual(files.sort(), [`${id}-json.log`, `${id}-json.log.1`]);
  const logs = await d.ok(['logs', id]);
  t.regex(logs, /line-200-/);
  t.notRegex(logs, /line-1-/);
});

test('update changes limits of a running container live', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '-d', '--name', 'uu', '--memory', '64m', 'busybox', 'sleep', '1000']);
  await d.ok(['update', '--memory', '128m', '--memory-swap', '256m', '--pids-limit', '50', 'uu']);
  const mem = await d.ok(['exec', 'uu', 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max']);
  t.is(mem.trim(), String(128 * 1024 * 1024));
  t.is((await d.ok(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}', 'uu'])).trim(), `${128 * 1024 * 1024} 50`);
  const bad = await d.cli(['update', '--memory', '1k', 'uu']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /Minimum memory limit/);
});

test('stats --no-stream reports memory, pids and cpu of running containers', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '-d', '--name', 'ss', '--memory', '64m', 'busybox', 'sh', '-c', 'while true; do :; done']);
  const out = await d.ok(['stats', '--no-stream', 'ss']);
  t.regex(out, /CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS/);
  t.regex(out, /\s64MiB\s/);
  // A busy loop's share depends on what else the machine runs (CI runs tests
  // in parallel on 2 cores); an idle container beside it must show ~0%.
  await d.ok(['run', '-d', '--name', 'idle', 'busybox', 'sleep', '1000']);
  const both = await d.ok(['stats', '--no-stream', '--format', '{{.Name}} {{.CPUPerc}}', 'ss', 'idle']);
  const cpuOf = (name: string): number => Number(new RegExp(`^${name} (\\d+\\.\\d+)%$`, 'm').exec(both)?.[1]);
  t.true(cpuOf('ss') > 1, both);
  t.true(cpuOf('idle') < 1, both);
  t.true(cpuOf('ss') > cpuOf('idle'), both);
  const json = await d.ok(['stats', '--no-stream', '--format', '{{.PIDs}}', 'ss']);
  t.is(json.trim(), '1');
});

test('attach sees the output of a running container; start -a runs to completion with output', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '-d', '--name', 'aa', 'busybox', 'sh', '-c', 'echo early; while [ ! -f /tmp/go ]; do sleep 0.1; done; echo late; exit 3']);
  const attached = d.cli(['attach', 'aa'], { timeoutMs: 30_000 });
  // Output from before the attachment is not replayed; what comes after is.
  await new Promise((r) => setTimeout(r, 1500));
  await d.ok(['exec', 'aa', 'touch', '/tmp/go']);
  const r = await attached;
  t.is(r.stdout, 'late\n');
  t.is(r.code, 3);
  await d.ok(['create', '--name', 'bb', 'busybox', 'echo', 'from-start']);
  t.is(await d.ok(['start', '-a', 'bb']), 'from-start\n');
});

test('restart restarts; ps -n and -s; restart policy always comes back after kill of the process', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '-d', '--name', 'rr', 'busybox', 'sleep', '1000']);
  const pid1 = (await d.ok(['inspect', '-f', '{{.State.Pid}}', 'rr'])).trim();
  await d.ok(['restart', '-t', '1', 'rr']);
  const pid2 = (await d.ok(['inspect', '-f', '{{.State.Pid}} {{.State.Status}}', 'rr'])).trim();
  t.not(pid2.split(' ')[0], pid1);
  t.is(pid2.split(' ')[1], 'running');
  await d.ok(['run', '-d', '--name', 'always', '--restart', 'always', 'busybox', 'sleep', '1000']);
  const pid = Number((await d.ok(['inspect', '-f', '{{.State.Pid}}', 'always'])).trim());
  process.kill(pid, 'SIGKILL');
  t.true(await eventually(async () => (await d.ok(['inspect', '-f', '{{.RestartCount}} {{.State.Status}}', 'always'])).trim() === '1 running', 10_000));
  const last = await d.ok(['ps', '-n', '1', '--format', '{{.Names}}']);
  t.is(last.trim(), 'always');
  t.regex(await d.ok(['ps', '-s']), /SIZE/);
});

test('container prune, image prune and system df', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '--name', 'done1', 'busybox', 'true']);
  await d.ok(['run', '-d', '--name', 'up', 'busybox', 'sleep', '1000']);
  const pruned = await d.ok(['container', 'prune', '-f']);
  t.regex(pruned, /Deleted Containers:/);
  t.regex(await d.ok(['ps', '-a', '--format', '{{.Names}}']), /^up$/m);
  t.notRegex(await d.ok(['ps', '-a', '--format', '{{.Names}}']), /done1/);
  const df = await d.ok(['system', 'df']);
  t.regex(df, /TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE/);
  t.regex(df, /Images\s+1\s+1/);
  await d.ok(['tag', 'busybox', 'extra:1']);
  await d.ok(['rm', '-f', 'up']);
  const ip = await d.ok(['image', 'prune', '-a', '-f']);
  t.regex(ip, /Total reclaimed space/);
  t.is((await d.ok(['images', '-q'])).trim(), '');
});
