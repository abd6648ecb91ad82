import { appendFile, readdir, readFile, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { Entry } from '../core/types.js';
import { decodeEntry } from './codec.js';
import { isDataLoss, type DataLossError } from './errors.js';
import { findValidRecordAfter, RecordType, scanSegment } from './record.js';
import { entries, spyFs, tempDir } from './test-helpers.js';
import { Wal, type WalOptions } from './wal.js';

const meta = Buffer.from('member=n1');
const plain = (es: Entry[]) => es.map((e) => ({ index: e.index, term: e.term, data: Buffer.from(e.data).toString('hex') }));

async function walFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
}

/** Offsets of every record in a segment file, with their types. */
async function recordsOf(dir: string, name: string): Promise<{ offset: number; type: number; len: number }[]> {
  const seq = parseInt(name.slice(0, 16), 16);
  return scanSegment(await readFile(join(dir, name)), seq).records.map((r) => ({ offset: r.offset, type: r.type, len: r.payload.length }));
}

async function flipByte(path: string, offset: number): Promise<void> {
  const buf = await readFile(path);
  buf[offset] = (buf[offset] ?? 0) ^ 0xff;
  await writeFile(path, buf);
}

async function newWal(t: Parameters<typeof tempDir>[0], opts: WalOptions = {}): Promise<{ dir: string; wal: Wal }> {
  const dir = join(await tempDir(t), 'wal');
  return { dir, wal: await Wal.create(dir, meta, opts) };
}

test('entries and hard state survive a reopen across segment cuts', async (t) => {
  const { dir, wal } = await newWal(t, { segmentBytes: 4096 });
  const all = entries(1, 300, 1, 256);
  for (let i = 0; i < all.length; i += 10) {
    await wal.save({ term: 1, vote: 'n1', commit: i }, all.slice(i, i + 10), true);
  }
  await wal.close();
  const files = await walFiles(dir);
  t.true(files.length > 10, `expected many segments, got ${files.length}`);
  t.regex(files[1]!, /^0000000000000001-[0-9a-f]{16}\.wal$/);
  const opened = await Wal.open(dir);
  t.deepEqual(plain(opened.entries), plain(all));
  t.deepEqual(opened.hardState, { term: 1, vote: 'n1', commit: 290 });
  t.is(Buffer.from(opened.metadata).toString(), 'member=n1');
  t.is(opened.repaired, undefined);
  t.is(opened.wal.lastIndex, 300);
  await opened.wal.close();
});

test('each segment is named after the first index it was cut for', async (t) => {
  const { dir, wal } = await newWal(t, { segmentBytes: 1024 });
  for (let i = 1; i <= 40; i += 4) await wal.save(undefined, entries(i, i + 3, 1, 200), false);
  await wal.close();
  const files = await walFiles(dir);
  t.true(files.length > 3);
  for (const [n, name] of files.entries()) {
    t.is(parseInt(name.slice(0, 16), 16), n, 'sequence numbers count up from 0');
    const seg = scanSegment(await readFile(join(dir, name)), n);
    t.is(seg.records[0]?.type, RecordType.Metadata, 'every segment opens with the metadata');
    const firstEntry = seg.records.find((r) => r.type === RecordType.Entry);
    if (firstEntry) t.is(decodeEntry(firstEntry.payload).index, parseInt(name.slice(17, 33), 16));
  }
});

test("a new leader's entries replace the old suffix on replay", async (t) => {
  const { dir, wal } = await newWal(t, { segmentBytes: 2048 });
  await wal.save({ term: 1, vote: 'a', commit: 3 }, entries(1, 10, 1, 100), true);
  await wal.save({ term: 2, vote: 'b', commit: 3 }, entries(6, 8, 2, 100), true);
  await wal.save(undefined, entries(9, 12, 2, 100), true);
  await wal.save({ term: 3, vote: 'c', commit: 5 }, entries(11, 11, 3, 100), true);
  await wal.close();
  const opened = await Wal.open(dir);
  t.deepEqual(
    opened.entries.map((e) => `${e.index}@${e.term}`),
    ['1@1', '2@1', '3@1', '4@1', '5@1', '6@2', '7@2', '8@2', '9@2', '10@2', '11@3'],
  );
  t.deepEqual(opened.hardState, { term: 3, vote: 'c', commit: 5 });
  t.is(opened.wal.lastIndex, 11);
  await opened.wal.close();
});

test('opening with a snapshot returns only the entries after it', async (t) => {
  const { dir, wal } = await newWal(t, { segmentBytes: 2048 });
  await wal.save({ term: 1, vote: '', commit: 50 }, entries(1, 60, 1, 64), true);
  await wal.saveSnapshot({ index: 40, term: 1 });
  await wal.close();
  const opened = await Wal.open(dir, { snapshot: { index: 40, term: 1 } });
  t.is(opened.entries[0]?.index, 41);
  t.is(opened.entries.length, 20);
  t.deepEqual(opened.snapshots, [{ index: 40, term: 1 }]);
  await opened.wal.close();
});

test('a snapshot whose term disagrees with the WAL record is refused', async (t) => {
  const { dir, wal } = await newWal(t);
  await wal.save(undefined, entries(1, 10), true);
  await wal.saveSnapshot({ index: 5, term: 1 });
  await wal.close();
  const err = await t.throwsAsync(Wal.open(dir, { snapshot: { index: 5, term: 2 } }));
  t.true(isDataLoss(err));
});

// The torn-tail variants: each leaves the last segment as a crash could.
const tornTails: [string, (file: string, lastRecord: { offset: number; len: number }) => Promise<void>][] = [
  ['a partial last record', (file, r) => truncate(file, r.offset + 9 + Math.floor(r.len / 2))],
  ['a partial record header', (file, r) => truncate(file, r.offset + 4)],
  ['a last record with a bad CRC at the very end', (file, r) => flipByte(file, r.offset + 9 + r.len - 1)],
  ['zeroes from preallocation', (file) => appendFile(file, Buffer.alloc(8192))],
  ['a partial record followed by zeroes', async (file, r) => {
    await truncate(file, r.offset + 12);
    await appendFile(file, Buffer.alloc(4096));
  }],
];

for (const [name, damage] of tornTails) {
  test(`a torn tail (${name}) is cut off and the member starts`, async (t) => {
    const { dir, wal } = await newWal(t);
    await wal.save({ term: 1, vote: 'n1', commit: 1 }, entries(1, 5), true);
    await wal.save(undefined, entries(6, 6), true);
    await wal.close();
    const [file] = await walFiles(dir);
    const path = join(dir, file!);
    const recs = await recordsOf(dir, file!);
    const last = recs[recs.length - 1]!;
    t.is(last.type, RecordType.Entry);
    const damageEntry = name.startsWith('zeroes') ? undefined : last;
    await damage(path, last);
    const warnings: string[] = [];
    const opened = await Wal.open(dir, { logger: { warn: (_f, msg) => warnings.push(msg) } });
    const expectLast = damageEntry ? 5 : 6;
    t.is(opened.entries[opened.entries.length - 1]?.index, expectLast);
    t.deepEqual(opened.hardState, { term: 1, vote: 'n1', commit: 1 });
    t.truthy(opened.repaired);
    t.is(warnings.length, 1, 'the repair is logged');
    const cutAt = damageEntry ? last.offset : last.offset + 9 + last.len;
    t.is((await stat(path)).size, cutAt, 'the file is truncated at the end of the last good record');
    // The member carries on: new entries land after the cut and survive a reopen.
    await opened.wal.save(undefined, entries(expectLast + 1, expectLast + 2, 2), true);
    await opened.wal.close();
    const again = await Wal.open(dir);
    t.is(again.repaired, undefined);
    t.deepEqual(again.entries.map((e) => e.index), Array.from({ length: expectLast + 2 }, (_, i) => i + 1));
    await again.wal.close();
  });
}

test('corruption followed by valid records stops the member with the file and offset', async (t) => {
  const { dir, wal } = await newWal(t);
  for (let i = 1; i <= 10; i++) await wal.save(undefined, entries(i, i), true);
  await wal.close();
  const [file] = await walFiles(dir);
  const path = join(dir, file!);
  const victim = (await recordsOf(dir, file!))[4]!;
  await flipByte(path, victim.offset + 9 + 2);
  const sizeBefore = (await stat(path)).size;
  const err = await t.throwsAsync<DataLossError>(Wal.open(dir));
  t.true(isDataLoss(err));
  t.is(err?.file, path);
  t.is(err?.offset, victim.offset);
  t.true(err?.message.includes(`${path} at byte offset ${victim.offset}`), err?.message);
  t.true(err?.message.includes('restore this member from a snapshot or remove and re-add it'), err?.message);
  t.is((await stat(path)).size, sizeBefore, 'nothing is truncated');
});

test('a damaged length field in the middle is still caught by the scan for valid records', async (t) => {
  const { dir, wal } = await newWal(t);
  for (let i = 1; i <= 10; i++) await wal.save(undefined, entries(i, i), true);
  await wal.close();
  const [file] = await walFiles(dir);
  const victim = (await recordsOf(dir, file!))[3]!;
  await flipByte(join(dir, file!), victim.offset + 3); // length becomes huge
  const err = await t.throwsAsync<DataLossError>(Wal.open(dir));
  t.is(err?.offset, victim.offset);
  t.regex(err?.message ?? '', /followed by a valid record/);
});

test('zeroes in the middle of the last segment are corruption, not a tail', async (t) => {
  const { dir, wal } = await newWal(t);
  for (let i = 1; i <= 6; i++) await wal.save(undefined, entries(i, i), true);
  await wal.close();
  const [file] = await walFiles(dir);
  const path = join(dir, file!);
  const victim = (await recordsOf(dir, file!))[2]!;
  const buf = await readFile(path);
  buf.fill(0, victim.offset, victim.offset + 9 + victim.len);
  await writeFile(path, buf);
  const err = await t.throwsAsync<DataLossError>(Wal.open(dir));
  t.is(err?.offset, victim.offset);
});

test('data crafted to look like record headers cannot make recovery scan for long', async (t) => {
  // Every 4 bytes a plausible header: length 0x80002 with an Entry type byte 8 bytes on.
  const pattern = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < pattern.length; i += 4) pattern.writeUInt32LE(0x0008_0002, i);
  const start = process.hrtime.bigint();
  const result = findValidRecordAfter(pattern, 0, 0, 64 * 1024 * 1024);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  t.is(result.kind, 'gave-up', 'an undecidable tail is reported, never cut');
  t.log(`gave up after ${ms.toFixed(0)} ms`);
});

test('damage at the end of a segment that is not the last stops the member', async (t) => {
  const { dir, wal } = await newWal(t, { segmentBytes: 1024 });
  for (let i = 1; i <= 30; i += 3) await wal.save(undefined, entries(i, i + 2, 1, 100), true);
  await wal.close();
  const files = await walFiles(dir);
  t.true(files.length >= 3);
  const path = join(dir, files[1]!);
  const recs = await recordsOf(dir, files[1]!);
  const last = recs[recs.length - 1]!;
  await truncate(path, last.offset + 5);
  const err = await t.throwsAsync<DataLossError>(Wal.open(dir));
  t.is(err?.file, path);
  t.is(err?.offset, last.offset);
  t.regex(err?.message ?? '', /not the last/);
});

test('a hard state committing past the end of the log is data loss', async (t) => {
  const { dir, wal } = await newWal(t);
  await wal.save({ term: 1, vote: 'a', commit: 5 }, entries(1, 5), true);
  await wal.save(undefined, entries(3, 3, 2), true); // a bug upstream: overwriting committed entries
  await wal.close();
  const err = await t.throwsAsync<DataLossError>(Wal.open(dir));
  t.regex(err?.message ?? '', /committed, but the log ends at 3/);
});

test('a missing segment stops the member', async (t) => {
  const { dir, wal } = await newWal(t, { segmentBytes: 1024 });
  for (let i = 1; i <= 30; i += 3) await wal.save(undefined, entries(i, i + 2, 1, 100), true);
  await wal.close();
  const files = await walFiles(dir);
  await unlink(join(dir, files[1]!));
  const err = await t.throwsAsync<DataLossError>(Wal.open(dir));
  t.true(isDataLoss(err));
  t.is(err?.file, join(dir, files[2]!));
});

test('releaseTo deletes only segments wholly before the index', async (t) => {
  const { dir, wal } = await newWal(t, { segmentBytes: 1024 });
  for (let i = 1; i <= 60; i += 3) await wal.save({ term: 1, vote: 'x', commit: i }, entries(i, i + 2, 1, 100), true);
  const before = await walFiles(dir);
  const firsts = before.map((n) => parseInt(n.slice(17, 33), 16));
  const target = 35;
  await wal.saveSnapshot({ index: target, term: 1 });
  await wal.releaseTo(target);
  const after = await walFiles(dir);
  const keepFrom = firsts.filter((f) => f <= target).length - 1;
  t.deepEqual(after, before.slice(keepFrom));
  t.true(parseInt(after[0]!.slice(17, 33), 16) <= target, 'the segment holding the index stays');
  t.deepEqual(wal.segmentNames, after);
  await wal.close();

  const opened = await Wal.open(dir, { snapshot: { index: target, term: 1 } });
  t.deepEqual(opened.entries.map((e) => e.index), Array.from({ length: 60 - target }, (_, i) => target + 1 + i));
  t.deepEqual(opened.hardState, { term: 1, vote: 'x', commit: 58 }, 'the hard state survives in the kept segments');
  await opened.wal.close();
  const err = await t.throwsAsync<DataLossError>(Wal.open(dir), undefined, 'without the snapshot the entries before are gone');
  t.regex(err?.message ?? '', /missing/);
});

test('one fdatasync per saved batch, none when the batch need not sync', async (t) => {
  const spy = spyFs();
  const { wal } = await newWal(t, { fs: spy.fs });
  const syncsBefore = spy.count('datasync');
  const writesBefore = spy.count('write');
  for (let i = 0; i < 20; i++) await wal.save({ term: 1, vote: '', commit: i }, entries(i * 8 + 1, i * 8 + 8), true);
  t.is(spy.count('datasync') - syncsBefore, 20);
  t.is(spy.count('write') - writesBefore, 20, 'one write per batch');
  for (let i = 20; i < 30; i++) await wal.save(undefined, entries(i * 8 + 1, i * 8 + 8), false);
  t.is(spy.count('datasync') - syncsBefore, 20);
  await wal.save(undefined, [], true);
  t.is(spy.count('datasync') - syncsBefore, 21, 'a later sync covers the unsynced batches');
  await wal.save(undefined, [], true);
  t.is(spy.count('datasync') - syncsBefore, 21, 'nothing to sync, no fdatasync');
  t.is(spy.count('fsync'), 0);
  await wal.close();
});

test('concurrent saves are written one after another, in call order', async (t) => {
  const { dir, wal } = await newWal(t, { segmentBytes: 2048 });
  await Promise.all(Array.from({ length: 20 }, (_, i) => wal.save(undefined, entries(i * 5 + 1, i * 5 + 5, 1, 64), true)));
  await wal.close();
  const opened = await Wal.open(dir);
  t.deepEqual(opened.entries.map((e) => e.index), Array.from({ length: 100 }, (_, i) => i + 1));
  await opened.wal.close();
});

test('after a failed fdatasync the WAL refuses further writes', async (t) => {
  let failNext = false;
  const spy = spyFs((op) => op === 'datasync' && failNext);
  const { wal } = await newWal(t, { fs: spy.fs });
  await wal.save(undefined, entries(1, 1), true);
  failNext = true;
  await t.throwsAsync(wal.save(undefined, entries(2, 2), true), { message: /simulated crash/ });
  failNext = false;
  await t.throwsAsync(wal.save(undefined, entries(3, 3), true), { message: /cannot be trusted; restart the member/ });
  await wal.close();
});

test('entries that would leave a gap are refused before anything is written', async (t) => {
  const { wal } = await newWal(t);
  await wal.save(undefined, entries(1, 3), true);
  await t.throwsAsync(wal.save(undefined, entries(5, 6), true), { instanceOf: TypeError, message: /gap/ });
  await t.throwsAsync(wal.save(undefined, [...entries(4, 4), ...entries(6, 6)], true), { instanceOf: TypeError });
  await wal.save(undefined, entries(4, 4), true);
  t.is(wal.lastIndex, 4);
  await wal.close();
});

test('a cut that crashed before its rename leaves no segment behind', async (t) => {
  const spy = spyFs((op, arg) => op === 'rename' && typeof arg === 'string' && arg.endsWith('.wal.tmp'));
  const { dir, wal } = await newWal(t, { fs: spy.fs, segmentBytes: 512 });
  await wal.save(undefined, entries(1, 4, 1, 100), true);
  await t.throwsAsync(wal.save(undefined, entries(5, 8, 1, 100), true), { message: /simulated crash/ });
  await wal.close();
  t.true((await readdir(dir)).some((n) => n.endsWith('.wal.tmp')));
  const opened = await Wal.open(dir);
  t.false((await readdir(dir)).some((n) => n.endsWith('.tmp')), 'the temp segment is removed');
  t.is(opened.entries.length, 8, 'the batch before the cut was synced');
  await opened.wal.close();
});

test('close is safe to repeat, and a closed WAL refuses writes', async (t) => {
  const { wal } = await newWal(t);
  await Promise.all([wal.close(), wal.close()]);
  await wal.close();
  await t.throwsAsync(wal.save(undefined, entries(1, 1), true), { message: /closed/ });
});

test('creating a WAL where one exists is refused', async (t) => {
  const { dir, wal } = await newWal(t);
  await wal.close();
  await t.throwsAsync(Wal.create(dir, meta), { message: /already exists/ });
});

test('throughput of durable appends (figure only)', async (t) => {
  const { wal } = await newWal(t);
  const data = 256;
  let index = 0;
  const run = async (batches: number, perBatch: number) => {
    const start = process.hrtime.bigint();
    for (let b = 0; b < batches; b++) {
      await wal.save({ term: 1, vote: '', commit: index }, entries(index + 1, index + perBatch, 1, data), true);
      index += perBatch;
    }
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    return { perSec: Math.round((batches * perBatch) / secs), syncsPerSec: Math.round(batches / secs) };
  };
  const one = await run(200, 1);
  const batched = await run(200, 64);
  t.log(`WAL, 256-byte entries, fdatasync per batch: 1/batch ${one.perSec} appends/s; 64/batch ${batched.perSec} appends/s (${batched.syncsPerSec} batches/s)`);
  await wal.close();
  const start = process.hrtime.bigint();
  const opened = await Wal.open(wal.dir);
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  t.log(`WAL replay on open: ${opened.entries.length} entries in ${(secs * 1000).toFixed(1)} ms (${Math.round(opened.entries.length / secs)} entries/s)`);
  t.is(opened.entries.length, index);
  await opened.wal.close();
});
