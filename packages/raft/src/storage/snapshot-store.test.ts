import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { Snapshot } from '../core/types.js';
import { isDataLoss, type DataLossError } from './errors.js';
import { SnapshotStore } from './snapshot-store.js';
import { spyFs, tempDir } from './test-helpers.js';

const snap = (index: number, term = 1, body = `state@${index}`): Snapshot => ({
  metadata: { index, term, confState: { voters: ['a', 'b', 'c'], learners: [] } },
  data: Buffer.from(body),
});

test('a saved snapshot loads back, named <term>-<index>.snap', async (t) => {
  const dir = await tempDir(t);
  const store = await SnapshotStore.open(dir);
  const path = await store.save(snap(0x1234, 7));
  t.is(path, join(dir, '0000000000000007-0000000000001234.snap'));
  const back = await store.loadNewest();
  t.deepEqual(back?.metadata, snap(0x1234, 7).metadata);
  t.is(Buffer.from(back!.data).toString(), 'state@4660');
});

test('an empty directory has no snapshot', async (t) => {
  const store = await SnapshotStore.open(join(await tempDir(t), 'snap'));
  t.is(await store.loadNewest(), undefined);
});

test('the newest snapshot is the one with the highest term and index', async (t) => {
  const store = await SnapshotStore.open(await tempDir(t));
  await store.save(snap(90, 2));
  await store.save(snap(100, 2));
  await store.save(snap(50, 1));
  t.is((await store.loadNewest())?.metadata.index, 100);
});

test('the file is written to a temp name, fsynced, renamed, then the directory fsynced', async (t) => {
  const dir = await tempDir(t);
  const spy = spyFs();
  const store = await SnapshotStore.open(dir, { fs: spy.fs });
  spy.calls.length = 0;
  const path = await store.save(snap(10));
  t.deepEqual(spy.calls, [`open ${path}.tmp`, 'write', 'fsync', 'close', `rename ${path}.tmp`, `syncDir ${dir}`]);
});

test('a crash between the temp write and the rename leaves the old snapshot', async (t) => {
  const dir = await tempDir(t);
  const good = await SnapshotStore.open(dir);
  await good.save(snap(10));
  const crashing = await SnapshotStore.open(dir, { fs: spyFs((op) => op === 'rename').fs });
  await t.throwsAsync(crashing.save(snap(20)), { message: /simulated crash/ });
  t.true((await readdir(dir)).some((n) => n.endsWith('.snap.tmp')));
  const restarted = await SnapshotStore.open(dir);
  t.is((await restarted.loadNewest())?.metadata.index, 10);
  t.deepEqual(await readdir(dir), ['0000000000000001-000000000000000a.snap'], 'the temp file is cleaned up');
});

async function damage(path: string, offset: number): Promise<void> {
  const buf = await readFile(path);
  buf[offset] = (buf[offset] ?? 0) ^ 0x01;
  await writeFile(path, buf);
}

test('a damaged newest snapshot is skipped with a warning when an older valid one exists', async (t) => {
  const dir = await tempDir(t);
  const warnings: Record<string, unknown>[] = [];
  const store = await SnapshotStore.open(dir, { logger: { warn: (f) => warnings.push(f) } });
  await store.save(snap(10));
  const newest = await store.save(snap(20));
  await damage(newest, 12);
  t.is((await store.loadNewest())?.metadata.index, 10);
  t.is(warnings.length, 1);
  t.is(warnings[0]?.['snapshot.file'], newest);
  t.true((await readdir(dir)).includes('0000000000000001-0000000000000014.snap.broken'), 'kept aside for inspection');
});

test('a damaged only snapshot stops the member with the file named', async (t) => {
  const dir = await tempDir(t);
  const store = await SnapshotStore.open(dir);
  const path = await store.save(snap(10));
  await damage(path, 9);
  const err = await t.throwsAsync<DataLossError>(store.loadNewest());
  t.true(isDataLoss(err));
  t.is(err?.file, path);
  t.regex(err?.message ?? '', /CRC-32C does not match.*restore this member from a snapshot or remove and re-add it/);
});

test('a truncated snapshot file is damage, not an empty snapshot', async (t) => {
  const dir = await tempDir(t);
  const store = await SnapshotStore.open(dir);
  const path = await store.save(snap(10));
  await writeFile(path, Buffer.alloc(2));
  t.true(isDataLoss(await t.throwsAsync(store.loadNewest())));
});

test('a snapshot whose content disagrees with its name is damage', async (t) => {
  const dir = await tempDir(t);
  const store = await SnapshotStore.open(dir);
  const path = await store.save(snap(10));
  await writeFile(path.replace('000000000000000a', '000000000000000b'), await readFile(path));
  const err = await t.throwsAsync<DataLossError>(store.load({ index: 11, term: 1 }));
  t.regex(err?.message ?? '', /not what its name says/);
});

test('retain keeps the newest N snapshots', async (t) => {
  const dir = await tempDir(t);
  const store = await SnapshotStore.open(dir, { retain: 2 });
  for (const i of [10, 20, 30, 40, 50]) await store.save(snap(i));
  await store.retain();
  t.deepEqual((await store.list()).map((m) => m.index), [50, 40]);
  await store.retain(1);
  t.deepEqual((await store.list()).map((m) => m.index), [50]);
});

test('the default retention is three snapshots', async (t) => {
  const store = await SnapshotStore.open(await tempDir(t));
  for (const i of [1, 2, 3, 4, 5]) await store.save(snap(i));
  await store.retain();
  t.deepEqual((await store.list()).map((m) => m.index), [5, 4, 3]);
});
