// The CLI against an in-process fake daemon: real gRPC over a unix socket, so
// request mapping, streaming and output are checked without runc.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Server, ServerCredentials, status, type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { engineProto, toServiceError, notFound, failedPrecondition, type AttachRequest__Output, type OutputFrame } from '@shoal/api';
import test from 'ava';
import { main } from '../main.js';

const created: unknown[] = [];
const stopped: unknown[] = [];

async function startFake(): Promise<{ host: string; server: Server }> {
  const proto = engineProto();
  const server = new Server();
  const unimplemented = (_: unknown, cb: sendUnaryData<unknown>): void => cb({ code: status.UNIMPLEMENTED, details: 'no' });
  const base = Object.fromEntries(Object.keys(proto.Containers.service).map((k) => [k, unimplemented]));
  server.addService(proto.Containers.service, {
    ...base,
    Create: (call: ServerUnaryCall<{ spec: { image: string; cmd: string[] } }, unknown>, cb: sendUnaryData<unknown>) => {
      created.push(call.request);
      if (call.request.spec.image === 'missing') return cb(toServiceError(notFound('No such image: missing:latest')));
      cb(null, { id: (call.request.spec.image === 'noexec' ? 'e' : 'f').repeat(64), warnings: [] });
    },
    Start: (_call: unknown, cb: sendUnaryData<unknown>) => cb(null, {}),
    Stop: (call: ServerUnaryCall<{ id: string }, unknown>, cb: sendUnaryData<unknown>) => {
      stopped.push(call.request);
      if (call.request.id === 'ghost') return cb(toServiceError(notFound('No such container: ghost')));
      cb(null, {});
    },
    List: (_call: unknown, cb: sendUnaryData<unknown>) =>
      cb(null, {
        containers: [
          {
            id: 'a'.repeat(64),
            names: ['/web'],
            image: 'busybox',
            command: 'sleep 1000000000000000',
            created: String(Math.floor(Date.now() / 1000) - 120),
            state: 'running',
            status: 'Up 2 minutes',
            labels: { tier: 'front' },
          },
        ],
      }),
    Attach: (call: ServerDuplexStream<AttachRequest__Output, OutputFrame>) => {
      call.once('data', (first: AttachRequest__Output) => {
        if (first.header?.id.startsWith('e')) {
          call.emit('error', toServiceError(failedPrecondition('exec: "nope": executable file not found in $PATH')));
          return;
        }
        call.write({ stream: 'STDOUT', data: Buffer.from('hello\n') });
        call.write({ stream: 'STDERR', data: Buffer.from('oops\n') });
        call.write({ stream: 'EXIT', exit_code: 3 });
        call.end();
      });
    },
  });
  const sock = join(mkdtempSync(join(tmpdir(), 'shoal-fake-')), 'd.sock');
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${sock}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  return { host: `unix://${sock}`, server };
}

async function shoal(host: string, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await main(argv, { stdin: new PassThrough(), stdout, stderr, env: { SHOAL_HOST: host } });
  return { code, out, err };
}

let fake: { host: string; server: Server };
test.before(async () => {
  fake = await startFake();
});
test.after.always(() => fake.server.forceShutdown());

test.serial('ps prints docker’s table with truncated id and quoted, shortened command', async (t) => {
  const r = await shoal(fake.host, ['ps']);
  t.is(r.code, 0);
  const [header, row] = r.out.split('\n');
  t.is(header, 'CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         PORTS     NAMES');
  t.is(row, 'aaaaaaaaaaaa   busybox   "sleep 1000000000000…"   2 minutes ago   Up 2 minutes             web');
  const q = await shoal(fake.host, ['ps', '-q', '--no-trunc']);
  t.is(q.out, `${'a'.repeat(64)}\n`);
  const f = await shoal(fake.host, ['container', 'ls', '--format', '{{.Names}} {{.Label "tier"}} {{.State}}']);
  t.is(f.out, 'web front running\n');
});

test.serial('run -d prints the full id; options after the image reach the container command', async (t) => {
  const r = await shoal(fake.host, ['run', '-d', '--name', 'x', 'busybox', 'sleep', '1', '-x']);
  t.is(r.code, 0);
  t.is(r.out, `${'f'.repeat(64)}\n`);
  const req = created.at(-1) as { name: string; spec: { cmd: string[] } };
  t.is(req.name, 'x');
  t.deepEqual(req.spec.cmd, ['sleep', '1', '-x']);
});

test.serial('run attached streams stdout/stderr and exits with the container’s code', async (t) => {
  const r = await shoal(fake.host, ['run', 'busybox', 'true']);
  t.is(r.out, 'hello\n');
  t.is(r.err, 'oops\n');
  t.is(r.code, 3);
});

test.serial('a start failure for a missing executable exits 127 with the daemon’s message', async (t) => {
  const r = await shoal(fake.host, ['run', 'noexec', 'nope']);
  t.is(r.code, 127);
  t.is(r.err, 'Error response from daemon: exec: "nope": executable file not found in $PATH\n');
});

test.serial('an unknown image is a daemon error with exit 125', async (t) => {
  const r = await shoal(fake.host, ['run', 'missing']);
  t.is(r.code, 125);
  t.is(r.err, 'Error response from daemon: No such image: missing:latest\n');
});

test.serial('stop prints each name, continues past errors, and exits 1 if any failed', async (t) => {
  const r = await shoal(fake.host, ['stop', '-t', '3', 'web', 'ghost', 'db']);
  t.is(r.out, 'web\ndb\n');
  t.is(r.err, 'Error response from daemon: No such container: ghost\n');
  t.is(r.code, 1);
  t.deepEqual((stopped[0] as { timeout: number }).timeout, 3);
});
