// Runs a CommonJS file through vm.Script with a V8 code cache (the
// v8-compile-cache technique; Node 20 has no module.enableCompileCache()).
// bundle.mjs compiles this into the CLI bundle, and produce-code-cache.mjs
// uses it to write the cache, so both wrap the source identically: V8 only
// accepts a cache made from the same source text, V8 version and V8 flags.
//
// V8 checks the source by length, not content, so the cache's name carries
// the source's content hash (bundle.mjs names both files after it); a cache
// that V8 rejects anyway (another Node, other flags, a broken file) only costs
// the compile it would have saved.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

/**
 * Compiles and runs the CommonJS `file`, using `cacheFile` when it exists.
 * Returns its module.exports and the compiled Script (for createCachedData).
 * Throws what reading or running the file throws.
 */
export function runCommonJs(file, cacheFile) {
  const source = readFileSync(file, 'utf8');
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // No cache (not built, or deleted): V8 compiles from source.
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  return { exports: module.exports, script };
}
