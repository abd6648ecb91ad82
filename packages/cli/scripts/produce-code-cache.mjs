// `node produce-code-cache.mjs <cli.cjs> <cache>`: writes the V8 code cache
// of the bundled CLI (see bundle.mjs). V8 compiles functions lazily, so a
// cache taken right after loading holds little more than top-level code; this
// one is taken after `shoal --help`, `shoal version` and `shoal ps` ran
// in-process against a stub daemon (a bare HTTP/2 server on a temporary unix
// socket answering every call with an empty message), so it also holds the
// command tree, grpc-js's channel and call code and protobufjs's codecs that
// daemon commands run. Run by bundle.mjs in a child without NODE_OPTIONS, as
// bin/shoal runs the CLI: V8 rejects a cache made under other V8 flags.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { runCommonJs } from './code-cache.mjs';

const COMMANDS = [['--help'], ['version'], ['ps'], ['ps', '-a', '--no-trunc']];
const TIMEOUT_MS = 20_000;

const [file, cacheFile] = process.argv.slice(2);
if (!file || !cacheFile) throw new Error('usage: produce-code-cache.mjs <cli.cjs> <cache>');

const { exports: cli, script } = runCommonJs(file, undefined);

// An empty gRPC message (every field at its default) for every call.
const EMPTY = Buffer.from([0, 0, 0, 0, 0]);
const dir = mkdtempSync(join(tmpdir(), 'shoal-code-cache-'));
const socket = join(dir, 'stub.sock');
const server = createServer();
server.on('stream', (stream) => {
  stream.on('error', () => {});
  stream.resume();
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(EMPTY);
  });
});
await new Promise((done) => server.listen(socket, done));

const timer = setTimeout(() => {
  process.stderr.write(`produce-code-cache.mjs: the CLI did not finish in ${TIMEOUT_MS} ms\n`);
  process.exit(1);
}, TIMEOUT_MS);
try {
  for (const argv of COMMANDS) {
    let output = '';
    const sink = new Writable({
      write(chunk, _encoding, done) {
        output += String(chunk);
        done();
      },
    });
    const io = { stdin: new PassThrough(), stdout: sink, stderr: sink, env: { SHOAL_HOST: `unix://${socket}` } };
    const code = await cli.main(argv, io);
    // The stub's empty answers are valid, so a failure means the cache misses
    // that command's paths: worth a warning, not a failed build.
    if (code !== 0) process.stderr.write(`produce-code-cache.mjs: shoal ${argv.join(' ')} exited ${code} against the stub daemon: ${output}\n`);
  }
} finally {
  clearTimeout(timer);
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
writeFileSync(cacheFile, script.createCachedData());
