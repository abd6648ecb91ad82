import test from 'ava';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { errorCode, isNotFound } from '@shoal/api';
import { ContentStore } from './content-store.js';
import { sha256 } from './digest.js';

async function store(t: { teardown(fn: () => Promise<void>): void }): Promise<ContentStore> {
  const root = await mkdtemp(join(tmpdir(), 'shoal-content-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const s = new ContentStore(root);
  await s.init();
  return s;
}

test('put stores a blob under its digest and it reads back', async (t) => {
  const s = await store(t);
  const data = Buffer.from('hello layers');
  const info = await s.put(Readable.from([data.subarray(0, 5), data.subarray(5)]));
  t.deepEqual(info, { digest: sha256(data), size: data.length });
  t.true(await s.has(info.digest));
  t.deepEqual(await s.read(info.digest), data);
  t.deepEqual(await s.info(info.digest), info);
  const chunks: Buffer[] = [];
  for await (const c of await s.readStream(info.digest)) chunks.push(c as Buffer);
  t.deepEqual(Buffer.concat(chunks), data);
  t.deepEqual(await s.list(), [info]);
  t.true(s.path(info.digest).endsWith(`/blobs/sha256/${info.digest.slice(7)}`));
});

test('a digest mismatch fails with DataLoss and leaves nothing behind', async (t) => {
  const s = await store(t);
  const wrong = sha256('something else');
  const err = await t.throwsAsync(s.putBytes(Buffer.from('abc'), { digest: wrong }));
  t.is(errorCode(err), 'DataLoss');
  t.false(await s.has(wrong));
  t.deepEqual(await s.list(), []);
  t.deepEqual(await readdir(join(s.root, 'ingest')), []);
});

test('a size mismatch fails with DataLoss', async (t) => {
  const s = await store(t);
  const err = await t.throwsAsync(s.putBytes(Buffer.from('abcdef'), { size: 3 }));
  t.is(errorCode(err), 'DataLoss');
  const err2 = await t.throwsAsync(s.putBytes(Buffer.from('ab'), { size: 3 }));
  t.is(errorCode(err2), 'DataLoss');
  t.deepEqual(await s.list(), []);
});

test('an aborted put leaves nothing behind', async (t) => {
  const s = await store(t);
  const ctl = new AbortController();
  async function* slow(): AsyncGenerator<Buffer> {
    yield Buffer.from('part one');
    ctl.abort(new Error('stop'));
    yield Buffer.from('part two');
  }
  await t.throwsAsync(s.put(slow(), {}, ctl.signal), { message: 'stop' });
  t.deepEqual(await s.list(), []);
  t.deepEqual(await readdir(join(s.root, 'ingest')), []);
});

test('missing blobs are NotFound, malformed digests InvalidArgument, delete is idempotent', async (t) => {
  const s = await store(t);
  const d = sha256('x');
  t.true(isNotFound(await t.throwsAsync(s.read(d))));
  t.true(isNotFound(await t.throwsAsync(s.info(d))));
  t.is(errorCode(t.throws(() => s.path('sha256:nothex'))), 'InvalidArgument');
  const info = await s.putBytes(Buffer.from('x'), { digest: d, size: 1 });
  await s.delete(info.digest);
  await s.delete(info.digest);
  t.false(await s.has(d));
});
