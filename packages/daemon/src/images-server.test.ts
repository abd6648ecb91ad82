import test from 'ava';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Server, ServerCredentials, type ServiceError } from '@grpc/grpc-js';
import { engineProto, fromServiceError, nopLogger, type DataChunk__Output, type Progress__Output } from '@shoal/api';
import { ImageService } from '@shoal/engine/images/image-service';
import { imagesServer } from './images-server.js';

const BUSYBOX = new URL('../../../build/images/busybox.tar', import.meta.url).pathname;

async function setup(t: { teardown(fn: () => Promise<void> | void): void }) {
  const root = await mkdtemp(join(tmpdir(), 'shoal-images-server-'));
  const images = new ImageService({ root: join(root, 'image'), isImageInUse: () => undefined });
  await images.init();
  const server = new Server();
  const proto = engineProto();
  server.addService(proto.Images.service, imagesServer(images, nopLogger));
  const sock = join(root, 'api.sock');
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${sock}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  const client = new proto.Images(`unix://${sock}`, credentials.createInsecure());
  t.teardown(async () => {
    client.close();
    server.forceShutdown();
    await rm(root, { recursive: true, force: true });
  });
  return { client, images };
}

test('Import streams a header and data, then List, Inspect, Save and Load work over gRPC', async (t) => {
  const { client } = await setup(t);
  const id = await new Promise<string>((resolve, reject) => {
    const call = client.Import((err, res) => (err ? reject(fromServiceError(err)) : resolve(res?.id ?? '')));
    call.write({ header: { ref: 'busybox:latest', changes: ['CMD ["sh"]'], message: '', platform: '' } });
    const file = createReadStream(BUSYBOX);
    file.on('data', (chunk) => call.write({ data: chunk }));
    file.on('end', () => call.end());
  });
  t.regex(id, /^sha256:/);
  const list = await new Promise<unknown>((resolve, reject) =>
    client.List({ all: false, filters: [] }, (err, res) => (err ? reject(err) : resolve(res))),
  );
  t.like(list, { images: [{ id, repo_tags: ['busybox:latest'] }] });
  const inspect = await new Promise<string>((resolve, reject) =>
    client.Inspect({ ref: 'busybox' }, (err, res) => (err ? reject(err) : resolve(res?.json ?? ''))),
  );
  t.is((JSON.parse(inspect) as { Id: string }).Id, id);

  const chunks: Buffer[] = [];
  const save = client.Save({ refs: ['busybox'] });
  for await (const m of save) chunks.push((m as DataChunk__Output).data);
  const archive = Buffer.concat(chunks);
  t.true(archive.length > 1_000_000);

  // Load it back (already present: idempotent) and read the progress lines.
  const load = client.Load();
  const lines: string[] = [];
  const done = (async () => {
    for await (const p of load) lines.push((p as Progress__Output).status);
  })();
  for (let i = 0; i < archive.length; i += 100_000) load.write({ data: archive.subarray(i, i + 100_000) });
  load.end();
  await done;
  t.true(lines.includes('Loaded image: busybox:latest'));
});

test('errors keep their code and message across the wire', async (t) => {
  const { client } = await setup(t);
  const err = await new Promise<ServiceError>((resolve) =>
    client.Inspect({ ref: 'nope' }, (e) => resolve(e as ServiceError)),
  );
  const shoal = fromServiceError(err);
  t.is(shoal.code, 'NotFound');
  t.is(shoal.message, 'No such image: nope:latest');

  const load = client.Load();
  const failure = new Promise<ServiceError>((resolve) => load.on('error', (e: ServiceError) => resolve(e)));
  load.on('data', () => undefined);
  load.write({ data: Buffer.from('definitely not a tar archive') });
  load.end();
  t.is(fromServiceError(await failure).code, 'InvalidArgument');
});
