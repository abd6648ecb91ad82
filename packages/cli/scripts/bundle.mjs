// Bundles the compiled CLI (dist/main.js, so run after `tsc -b`) with esbuild
// into dist/bundle/: on Node 20 loading grpc-js, protobufjs and our ~30 ESM
// modules file by file costs ~30 ms of every daemon command; one file per
// lazy part costs much less. Code splitting keeps each command's dynamic
// import lazy, so `shoal --help` still loads only commander and the command
// tree. bin/shoal runs the bundle while it is newer than its inputs.
//
// Inside the bundle @shoal/api's PROTO_ROOT (derived from import.meta.url)
// does not point at proto/; the CLI never uses it.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const cli = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${cli}dist/bundle`;

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { shoal: `${cli}dist/main.js` },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: 'linked',
  // The bundled CommonJS packages (commander, grpc-js, protobufjs) require
  // Node's built-ins; ESM output has no `require` of its own.
  banner: { js: "import { createRequire as __shoalCreateRequire } from 'node:module';\nconst require = __shoalCreateRequire(import.meta.url);" },
  // Only reached when someone asks engineProto() for message type definitions.
  external: ['@grpc/proto-loader'],
  logLevel: 'warning',
});
