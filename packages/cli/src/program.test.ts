import test from 'ava';
import type { Command } from 'commander';
import { buildProgram, selectCommand } from './program.js';

const build = (argv?: string[]): Command =>
  buildProgram({ argv, dispatch: async () => undefined, writeOut: () => undefined, writeErr: () => undefined });

/** "shoal container ls" → the help text of every command in the tree, by path. */
function helpByPath(program: Command): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (c: Command, path: string): void => {
    out.set(path, c.helpInformation());
    for (const sub of c.commands) walk(sub, `${path} ${sub.name()}`);
  };
  walk(program, 'shoal');
  return out;
}

test('selectCommand finds the command after the global flags', (t) => {
  t.deepEqual(selectCommand(['ps', '-a']), { name: 'ps' });
  t.deepEqual(selectCommand(['-H', 'unix:///x.sock', '--debug', 'run', '--rm', 'busybox']), { name: 'run' });
  t.deepEqual(selectCommand(['--host=tcp://h:1', '-Hunix:///y', '-D', 'version']), { name: 'version' });
  t.deepEqual(selectCommand(['container', 'ps', '-q']), { name: 'container', sub: 'ps' });
  t.deepEqual(selectCommand(['image', 'rm', 'busybox']), { name: 'image', sub: 'rm' });
  t.deepEqual(selectCommand(['container', '--help']), { name: 'container' });
});

test('selectCommand builds everything for unknown names and unknown flags before the command', (t) => {
  t.is(selectCommand([]), undefined);
  t.is(selectCommand(['--help']), undefined);
  t.is(selectCommand(['frobnicate']), undefined);
  t.is(selectCommand(['--bogus', 'ps']), undefined);
  t.is(selectCommand(['-H']), undefined);
  t.deepEqual(selectCommand(['system', 'nope']), { name: 'system' });
});

test('the part of the tree built for a command is the same as in the whole tree', (t) => {
  const full = helpByPath(build());
  let checked = 0;
  for (const path of full.keys()) {
    const argv = path.split(' ').slice(1);
    if (argv.length === 0) continue;
    const partial = helpByPath(build(argv));
    t.is(partial.get(path), full.get(path), path);
    checked++;
  }
  t.true(checked > 60);
});

test('only the named command is built', (t) => {
  const p = build(['ps', '-a']);
  t.deepEqual(
    p.commands.map((c) => c.name()),
    ['ps'],
  );
  const g = build(['container', 'ls']);
  t.deepEqual(
    g.commands.map((c) => [c.name(), c.commands.map((s) => s.name())]),
    [['container', ['ls']]],
  );
});
