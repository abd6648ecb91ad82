// Bundles the compiled CLI (dist/main.js, so run after `tsc -b`) with esbuild
// into dist/bundle/, and writes the bundle's V8 code cache. bin/shoal runs
// the bundle while it is newer than its inputs.
//
// Why: on Node 20 a daemon command's start-up is mostly compiling what it
// loads (grpc-js, protobufjs, commander, ~1 MB) and the ES module loader's
// per-module work. Node 20 can code-cache neither ES modules nor (before
// module.enableCompileCache() in 22) CommonJS, so the whole CLI becomes one
// CommonJS file, cli-<hash>.cjs, that the launcher shoal.js compiles through
// vm.Script with a code cache (code-cache.mjs, the v8-compile-cache
// technique). produce-code-cache.mjs writes the cache after running
// `--help`, `version` and `ps` against a stub daemon, so it holds the code
// those run, not just the top level. Dynamic imports stay lazy inside the
// file (esbuild turns them into deferred module initialisers), so `--help`
// still runs only commander and the command tree.
//
// The file is named by its content hash and the cache after the file: V8
// checks a cache's source by length only. V8 rejects a cache from another
// Node or other V8 flags; the CLI then just compiles from source.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const cli = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${cli}dist/bundle`;

rmSync(outdir, { recursive: true, force: true });

// 1. The CLI as one CommonJS file.
const bundle = await build({
  entryPoints: { cli: `${cli}dist/main.js` },
  outdir,
  entryNames: '[name]-[hash]',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  // CommonJS has no import.meta. The CLI's own use (is this the entry
  // script?) must say no: the launcher calls runProcess(). @shoal/api's
  // PROTO_ROOT then points at the wrong place; the CLI never uses it.
  define: { 'import.meta.url': '__shoalImportMetaUrl' },
  banner: { js: "var __shoalImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  // Only reached when someone asks engineProto() for message type definitions
  // (or grpc-js for channelz); resolved from node_modules at run time.
  external: ['@grpc/proto-loader'],
  metafile: true,
  logLevel: 'warning',
});
const out = Object.keys(bundle.metafile.outputs).find((f) => f.endsWith('.cjs'));
if (out === undefined) throw new Error('esbuild wrote no CommonJS bundle');
const file = resolve(out);

// 2. Its code cache, from a child without NODE_OPTIONS, as bin/shoal runs it.
execFileSync(process.execPath, [`${cli}scripts/produce-code-cache.mjs`, file, `${file}.cache`], {
  stdio: 'inherit',
  env: { ...process.env, NODE_OPTIONS: '' },
});

// 3. The launcher, written last: bin/shoal runs the bundle only when this file
// is newer than the CLI's inputs, so a failed build falls back to tsc output.
await build({
  stdin: {
    contents: [
      "import { fileURLToPath } from 'node:url';",
      "import { runCommonJs } from './scripts/code-cache.mjs';",
      `const file = fileURLToPath(new URL(${JSON.stringify(`./${basename(file)}`)}, import.meta.url));`,
      'void runCommonJs(file, `${file}.cache`).exports.runProcess();',
    ].join('\n'),
    resolveDir: cli,
    sourcefile: 'shoal-launcher.mjs',
  },
  outfile: `${outdir}/shoal.js`,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
});
