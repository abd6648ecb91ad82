import test from 'ava';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLogs, type LogEntry, type ReadLogsOptions } from './json-file-reader.js';
import { JsonFileWriter, MAX_LINE } from './json-file-writer.js';
import { formatTimeNs, parseLogSize, parseTimeNs } from './log-config.js';

async function tmp(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-logs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const T0 = 1_700_000_000_000_000_000n;
const sec = (n: number): bigint => T0 + BigInt(n) * 1_000_000_000n;

async function all(path: string, opts: ReadLogsOptions, signal?: AbortSignal): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of readLogs(path, opts, signal)) out.push(e);
  return out;
}
const text = (es: LogEntry[]): string[] => es.map((e) => e.line.toString());

test('writes docker json lines, splitting chunks at newlines', async (t) => {
  const path = join(await tmp(t), 'c-json.log');
  const w = new JsonFileWriter(path);
  w.write('stdout', Buffer.from('hel'), sec(1));
  w.write('stderr', Buffer.from('err <&>\n'), sec(2));
  w.write('stdout', Buffer.from('lo\nworld\npart'), sec(3));
  w.close();
  const lines = (await readFile(path, 'utf8')).trim().split('\n');
  t.deepEqual(lines, [
    '{"log":"err \\u003c\\u0026\\u003e\\n","stream":"stderr","time":"2023-11-14T22:13:22.000000000Z"}',
    '{"log":"hello\\n","stream":"stdout","time":"2023-11-14T22:13:23.000000000Z"}',
    '{"log":"world\\n","stream":"stdout","time":"2023-11-14T22:13:23.000000000Z"}',
    '{"log":"part","stream":"stdout","time":"2023-11-14T22:13:23.000000000Z"}',
  ]);
});

test('a line longer than 16 KiB is split into partial entries', async (t) => {
  const path = join(await tmp(t), 'c-json.log');
  const w = new JsonFileWriter(path);
  w.write('stdout', Buffer.alloc(MAX_LINE + 10, 'x'), sec(1));
  w.write('stdout', Buffer.from('y\n'), sec(2));
  w.close();
  const es = await all(path, {});
  t.deepEqual(es.map((e) => e.line.length), [MAX_LINE, 12]);
  t.is(Buffer.concat(es.map((e) => e.line)).toString(), `${'x'.repeat(MAX_LINE + 10)}y\n`);
});

test('round trip keeps bytes, streams and nanosecond times', async (t) => {
  const path = join(await tmp(t), 'c-json.log');
  const w = new JsonFileWriter(path);
  w.write('stdout', Buffer.from('a\n'), sec(1) + 123n);
  w.write('stderr', Buffer.from('héllo "q"\n'), sec(2) + 987654321n);
  w.close();
  const es = await all(path, {});
  t.deepEqual(es.map((e) => [e.stream, e.line.toString(), e.time]), [
    ['stdout', 'a\n', sec(1) + 123n],
    ['stderr', 'héllo "q"\n', sec(2) + 987654321n],
  ]);
  t.deepEqual(text(await all(path, { stderr: false })), ['a\n']);
  t.deepEqual(text(await all(path, { stdout: false })), ['héllo "q"\n']);
});

test('tail N returns the last N lines, across rotated files', async (t) => {
  const path = join(await tmp(t), 'c-json.log');
  const w = new JsonFileWriter(path, { maxSize: 300, maxFile: 5 });
  for (let i = 0; i < 40; i++) w.write(i % 2 ? 'stderr' : 'stdout', Buffer.from(`line ${i}\n`), sec(i));
  w.close();
  t.true((await readdir(join(path, '..'))).length > 1);
  t.deepEqual(text(await all(path, { tail: 3 })), ['line 37\n', 'line 38\n', 'line 39\n']);
  t.deepEqual(text(await all(path, { tail: 0 })), []);
  const every = text(await all(path, { tail: 'all' }));
  const kept = text(await all(path, { tail: 1000 }));
  t.deepEqual(kept, every);
  t.is(every[every.length - 1], 'line 39\n');
  // tail counts both streams, then the stream filter applies (as docker).
  t.deepEqual(text(await all(path, { tail: 4, stderr: false })), ['line 36\n', 'line 38\n']);
});

test('since and until filter by time', async (t) => {
  const path = join(await tmp(t), 'c-json.log');
  const w = new JsonFileWriter(path);
  for (let i = 0; i < 10; i++) w.write('stdout', Buffer.from(`${i}\n`), sec(i));
  w.close();
  t.deepEqual(text(await all(path, { since: sec(7) })), ['7\n', '8\n', '9\n']);
  t.deepEqual(text(await all(path, { until: sec(2) })), ['0\n', '1\n', '2\n']);
  t.deepEqual(text(await all(path, { since: sec(4), until: sec(5) })), ['4\n', '5\n']);
});

test('rotation keeps at most max-file files and the newest lines', async (t) => {
  const dir = await tmp(t);
  const path = join(dir, 'c-json.log');
  const w = new JsonFileWriter(path, { maxSize: 200, maxFile: 3 });
  for (let i = 0; i < 100; i++) w.write('stdout', Buffer.from(`line ${i}\n`), sec(i));
  w.close();
  t.deepEqual((await readdir(dir)).sort(), ['c-json.log', 'c-json.log.1', 'c-json.log.2']);
  for (const f of await readdir(dir)) t.true((await stat(join(dir, f))).size < 200 + 100);
  const es = text(await all(path, {}));
  t.is(es[es.length - 1], 'line 99\n');
  // Consecutive and ending at the newest: nothing in the middle went missing.
  const nums = es.map((l) => Number(l.split(' ')[1]));
  t.deepEqual(nums, nums.map((_, i) => 100 - nums.length + i));
});

test('max-file 1 truncates in place', async (t) => {
  const dir = await tmp(t);
  const path = join(dir, 'c-json.log');
  const w = new JsonFileWriter(path, { maxSize: 200, maxFile: 1 });
  for (let i = 0; i < 50; i++) w.write('stdout', Buffer.from(`line ${i}\n`), sec(i));
  w.close();
  t.deepEqual(await readdir(dir), ['c-json.log']);
  t.true((await stat(path)).size < 300);
});

test('follow sees new lines, across a rotation, then stops on abort', async (t) => {
  const path = join(await tmp(t), 'c-json.log');
  const w = new JsonFileWriter(path, { maxSize: 150, maxFile: 3 });
  w.write('stdout', Buffer.from('old\n'), sec(0));
  const ctl = new AbortController();
  const seen: string[] = [];
  const reading = (async () => {
    for await (const e of readLogs(path, { follow: true, pollMs: 50 }, ctl.signal)) {
      seen.push(e.line.toString());
      if (seen.length === 6) setTimeout(() => ctl.abort(), 100);
    }
  })();
  await new Promise((r) => setTimeout(r, 100));
  for (let i = 1; i <= 5; i++) {
    w.write('stdout', Buffer.from(`new ${i}\n`), sec(i));
    await new Promise((r) => setTimeout(r, 60));
  }
  await reading;
  w.close();
  t.deepEqual(seen, ['old\n', 'new 1\n', 'new 2\n', 'new 3\n', 'new 4\n', 'new 5\n']);
  t.true(ctl.signal.aborted);
});

test('follow ends when stopWhen says so, after draining', async (t) => {
  const path = join(await tmp(t), 'c-json.log');
  const w = new JsonFileWriter(path);
  w.write('stdout', Buffer.from('one\n'), sec(0));
  let exited = false;
  const reading = all(path, { follow: true, pollMs: 50, stopWhen: () => exited });
  await new Promise((r) => setTimeout(r, 80));
  w.write('stdout', Buffer.from('two\n'), sec(1));
  exited = true;
  w.close();
  t.deepEqual(text(await reading), ['one\n', 'two\n']);
});

test('a missing log reads as empty', async (t) => {
  t.deepEqual(await all(join(await tmp(t), 'nope-json.log'), {}), []);
});

test('log sizes and times parse like docker', (t) => {
  t.is(parseLogSize('10k'), 10 * 1024);
  t.is(parseLogSize('20m'), 20 * 1024 * 1024);
  t.is(parseLogSize('1g'), 1024 ** 3);
  t.is(parseLogSize('512'), 512);
  t.is(parseLogSize('12q'), undefined);
  t.is(parseLogSize('-1m'), undefined);
  t.is(formatTimeNs(sec(0) + 5n), '2023-11-14T22:13:20.000000005Z');
  t.is(parseTimeNs('2023-11-14T22:13:20.000000005Z'), sec(0) + 5n);
  t.is(parseTimeNs('2023-11-14T23:13:20.5+01:00'), sec(0) + 500_000_000n);
  t.is(parseTimeNs('yesterday'), undefined);
});
