import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { Snapshot } from '../core/types.js';
import { MemoryStorage } from '../core/memory-storage.js';
import { DiskStorage } from './disk-storage.js';
import { entries, tempDir } from './test-helpers.js';

const bootstrap = { metadata: Buffer.from('n1'), confState: { voters: ['n1', 'n2', 'n3'], learners: [] } };

const received = (index: number, term: number): Snapshot => ({
  metadata: { index, term, confState: { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] } },
  data: Buffer.from(`app@${index}`),
});

test('a founding member starts from the founding snapshot, as MemoryStorage.bootstrap does', async (t) => {
  const dir = await tempDir(t);
  t.false(await DiskStorage.exists(dir));
  const { disk, memory, metadata } = await DiskStorage.create(dir, bootstrap);
  t.true(await DiskStorage.exists(dir));
  const expected = MemoryStorage.bootstrap(bootstrap.confState);
  t.deepEqual(memory.initialState(), expected.initialState());
  t.is(memory.lastIndex(), expected.lastIndex());
  t.is(memory.firstIndex(), expected.firstIndex());
  t.is(Buffer.from(metadata).toString(), 'n1');
  await disk.close();
  await t.throwsAsync(DiskStorage.create(dir, bootstrap), { message: /already exists/ });
  const re = await DiskStorage.open(dir);
  t.deepEqual(re.memory.initialState(), expected.initialState());
  await re.disk.close();
});

test('a joining member starts empty and keeps what the leader sends', async (t) => {
  const dir = await tempDir(t);
  const { disk, memory, snapshot } = await DiskStorage.create(dir, { metadata: Buffer.from('n4') });
  t.is(snapshot, undefined);
  t.is(memory.lastIndex(), 0);
  t.deepEqual(memory.initialState().confState, { voters: [], learners: [] });
  await disk.persist({ hardState: { term: 3, vote: '', commit: 40 }, entries: [], snapshot: received(40, 3), mustSync: true });
  await disk.close();
  const re = await DiskStorage.open(dir);
  t.is(re.snapshot?.metadata.index, 40);
  t.deepEqual(re.memory.initialState().confState.voters, ['n1', 'n2', 'n3', 'n4']);
  await re.disk.close();
});

test('what a Ready persisted is in memory again after a restart', async (t) => {
  const dir = await tempDir(t);
  const { disk, memory } = await DiskStorage.create(dir, bootstrap);
  await disk.persist({ hardState: { term: 2, vote: 'n1', commit: 1 }, entries: entries(2, 5, 2), mustSync: true });
  await disk.persist({ hardState: { term: 2, vote: 'n1', commit: 4 }, entries: entries(6, 7, 2), mustSync: true });
  t.is(memory.lastIndex(), 7);
  await disk.close();
  const re = await DiskStorage.open(dir);
  t.deepEqual(re.memory.initialState(), { hardState: { term: 2, vote: 'n1', commit: 4 }, confState: bootstrap.confState });
  t.is(re.memory.lastIndex(), 7);
  t.is(re.memory.term(7), 2);
  t.is(Buffer.from(re.memory.entries(3, 4, Infinity)[0]!.data).toString().slice(0, 4), '2:3:');
  await re.disk.close();
});

test('a snapshot received from the leader is restored on restart, with the entries after it', async (t) => {
  const dir = await tempDir(t);
  const { disk } = await DiskStorage.create(dir, bootstrap);
  await disk.persist({ hardState: { term: 1, vote: '', commit: 2 }, entries: entries(2, 3), mustSync: true });
  await disk.persist({ hardState: { term: 3, vote: '', commit: 100 }, entries: [], snapshot: received(100, 3), mustSync: true });
  await disk.persist({ hardState: { term: 3, vote: '', commit: 101 }, entries: entries(101, 102, 3), mustSync: true });
  t.is(disk.memory.firstIndex(), 101);
  await disk.close();
  const re = await DiskStorage.open(dir);
  t.is(re.snapshot?.metadata.index, 100);
  t.deepEqual(re.memory.initialState().confState.voters, ['n1', 'n2', 'n3', 'n4']);
  t.is(re.memory.firstIndex(), 101);
  t.is(re.memory.lastIndex(), 102);
  t.is(re.memory.initialState().hardState.commit, 101);
  await re.disk.close();
});

test('a crash after saving a received snapshot but before its hard state still starts, committed through the snapshot', async (t) => {
  const dir = await tempDir(t);
  const { disk } = await DiskStorage.create(dir, bootstrap);
  await disk.persist({ hardState: { term: 1, vote: '', commit: 2 }, entries: entries(2, 3), mustSync: true });
  await disk.snapshots.save(received(50, 2)); // the snapshot file made it, nothing after it did
  await disk.close();
  const re = await DiskStorage.open(dir);
  t.is(re.memory.firstIndex(), 51);
  t.is(re.memory.lastIndex(), 50);
  t.is(re.memory.initialState().hardState.commit, 50);
  await re.disk.close();
});

test('local snapshots keep the newest N and the WAL from the oldest of them on, so a damaged newest can fall back', async (t) => {
  const dir = await tempDir(t);
  const { disk, memory } = await DiskStorage.create(dir, bootstrap, { segmentBytes: 2048, retainSnapshots: 2 });
  for (let i = 1; i <= 200; i += 10) {
    const from = Math.max(i, 2); // index 1 is the founding snapshot
    await disk.persist({ hardState: { term: 1, vote: 'n1', commit: i + 9 }, entries: entries(from, i + 9, 1, 100), mustSync: true });
    if ((i + 9) % 50 === 0) await disk.saveSnapshot(memory.createSnapshot(i + 9, undefined, Buffer.from(`app@${i + 9}`)));
  }
  t.deepEqual((await disk.snapshots.list()).map((m) => m.index), [200, 150]);
  const segs = (await readdir(join(dir, 'wal'))).sort();
  t.true(parseInt(segs[0]!.slice(17, 33), 16) <= 150, 'the WAL still reaches back to the oldest kept snapshot');
  t.true(parseInt(segs[0]!.slice(17, 33), 16) > 50, 'segments only older snapshots needed are gone');
  await disk.close();

  const newest = join(dir, 'snap', '0000000000000001-00000000000000c8.snap');
  const buf = await readFile(newest);
  buf[buf.length - 1] = (buf[buf.length - 1] ?? 0) ^ 0xff;
  await writeFile(newest, buf);
  const re = await DiskStorage.open(dir, { logger: { warn() {} } });
  t.is(re.snapshot?.metadata.index, 150);
  t.is(re.memory.firstIndex(), 151);
  t.is(re.memory.lastIndex(), 200);
  await re.disk.close();
});

test('a snapshot is due every snapshotEveryEntries applied entries (default 10,000)', async (t) => {
  const dir = await tempDir(t);
  const { disk } = await DiskStorage.create(dir, bootstrap); // founding snapshot at index 1
  t.false(disk.needsSnapshot(10_000));
  t.true(disk.needsSnapshot(10_001));
  await disk.close();
  const re = await DiskStorage.open(dir, { snapshotEveryEntries: 5 });
  await re.disk.persist({ hardState: { term: 1, vote: '', commit: 7 }, entries: entries(2, 7), mustSync: true });
  t.true(re.disk.needsSnapshot(6));
  await re.disk.saveSnapshot(re.memory.createSnapshot(6, undefined, Buffer.from('x')));
  t.false(re.disk.needsSnapshot(7));
  await re.disk.close();
});
