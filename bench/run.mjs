#!/usr/bin/env node
// `npm run bench -- [name] [args...]`: runs bench/dist/<name>.js, or every
// bench when no name is given (each top-level file of bench/dist; helpers live
// in bench/dist/lib). Arguments after the name go to that bench.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), 'dist');
const argv = process.argv.slice(2);

if (!existsSync(dist)) {
  console.error('The benches are not built: run `npx tsc -b` (or `npx tsc -b bench`) first.');
  process.exit(1);
}
const all = readdirSync(dist)
  .filter((f) => f.endsWith('.js') && !f.endsWith('.test.js'))
  .map((f) => f.slice(0, -'.js'.length))
  .sort();

let names = all;
let args = argv;
if (argv[0] && !argv[0].startsWith('-')) {
  names = [argv[0]];
  args = argv.slice(1);
  if (!all.includes(argv[0])) {
    console.error(`No bench named "${argv[0]}": choose one of ${all.join(', ') || '(none built)'}.`);
    process.exit(2);
  }
}

let failed = 0;
for (const name of names) {
  if (names.length > 1) console.log(`\n=== bench ${name} ===`);
  const r = spawnSync(process.execPath, [join(dist, `${name}.js`), ...args], { stdio: 'inherit' });
  if (r.status !== 0) failed += 1;
}
process.exit(failed ? 1 : 0);
