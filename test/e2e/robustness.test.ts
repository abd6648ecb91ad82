import test from 'ava';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { engineProto } from '@shoal/api';
import { withDaemon } from './harness.js';

type Callback = (err: ServiceError | null, res?: unknown) => void;
type Unary = (req: unknown, cb: Callback) => void;

function call(client: unknown, method: string, req: unknown): Promise<{ err?: ServiceError; res?: unknown }> {
  return new Promise((resolve) => {
    const fn = (client as Record<string, Unary>)[method]!.bind(client);
    fn(req, (err, res) => resolve(err ? { err } : { res }));
  });
}

function streamErr<M>(stream: NodeJS.EventEmitter & { end(): void; write(m: M): boolean }, messages: M[]): Promise<string> {
  return new Promise((resolve) => {
    stream.on('data', () => undefined);
    stream.on('error', (e: ServiceError) => resolve(e.details));
    stream.on('end', () => resolve('ended'));
    for (const m of messages) stream.write(m);
    stream.end();
  });
}

test('malformed requests get errors, and the daemon keeps serving', async (t) => {
  const d = await withDaemon(t);
  const p = engineProto();
  const target = `unix://${d.socket}`;
  const containers = new p.Containers(target, credentials.createInsecure());
  const images = new p.Images(target, credentials.createInsecure());
  t.teardown(() => {
    containers.close();
    images.close();
  });
  const unaryCases: [unknown, string, unknown, RegExp][] = [
    [containers, 'Create', {}, /spec/],
    [containers, 'Create', { spec: { image: '' } }, /image/],
    [containers, 'Create', { spec: { image: 'busybox', network_mode: 'bogus' } }, /network/],
    [containers, 'Create', { spec: { image: 'busybox', resources: { memory: '-5' } } }, /memory/],
    [containers, 'Create', { name: '../evil', spec: { image: 'busybox' } }, /Invalid container name/],
    [containers, 'Start', { id: '' }, /No such container/],
    [containers, 'Kill', { id: 'nope', signal: 'SIGBOGUS' }, /No such container|signal/],
    [containers, 'Wait', { id: 'nope', condition: 'whenever' }, /No such container|condition/],
    [containers, 'Update', { id: 'nope', set: ['everything'] }, /No such container|resource/],
    [containers, 'Top', { id: 'nope' }, /No such container/],
    [images, 'Inspect', { ref: '::::' }, /invalid reference format|No such image/],
    [images, 'Tag', { source: 'busybox', target: 'a//b' }, /invalid reference format/],
    [images, 'Remove', { ref: 'sha256:' }, /invalid|No such image/],
  ];
  for (const [client, method, req, re] of unaryCases) {
    const { err } = await call(client, method, req);
    t.truthy(err, `${method} ${JSON.stringify(req)} should fail`);
    t.regex(err?.details ?? '', re, `${method} ${JSON.stringify(req)}`);
  }
  // Streams whose first message is not the header they need.
  t.regex(await streamErr(containers.Attach(), [{ stdin: Buffer.from('x') }]), /header/);
  t.regex(await streamErr(containers.Exec(), [{ stdin: Buffer.from('x') }]), /config/);
  t.regex(await streamErr(images.Load(), [{ data: Buffer.from('this is not a tar archive at all') }]), /tar|archive|manifest/i);
  const imp = await new Promise<string>((resolve) => {
    const s = images.Import((err) => resolve(err ? err.details : 'ok'));
    s.write({ data: Buffer.from('garbage before the header') });
    s.end();
  });
  t.not(imp, 'ok');
  const badFilter = await d.cli(['ps', '-a', '--filter', 'name=[unclosed']);
  t.not(badFilter.code, 0);
  t.regex(badFilter.stderr, /not a valid regular expression/);
  // The daemon is still there and unchanged.
  t.is(await d.ok(['run', '--rm', 'busybox', 'echo', 'alive']), 'alive\n');
  t.is((await d.ok(['ps', '-aq'])).trim(), '');
  t.is(d.process?.exitCode, null);
});
