import test from 'ava';
import { loadProtoRoot } from '@shoal/api/proto-root';
import { MemoryStore } from './memory-store.js';
import { cloneObject, decodeActions, encodeActions, normalize } from './codec.js';
import type { DecodedAction } from './codec.js';
import { TABLES } from './tables.js';
import { node, service, task } from './test-fixtures.js';

test('encodeActions splices pre-encoded objects into exactly the bytes protobufjs writes for the list', async (t) => {
  const store = new MemoryStore();
  const actions: DecodedAction[] = [];
  await store.update((tx) => {
    actions.push({ kind: 'create', table: 'services', object: tx.services.create(service('s1', 'web')) });
    actions.push({ kind: 'update', table: 'nodes', object: tx.nodes.create(node('n1', 'h')) });
    actions.push({ kind: 'delete', table: 'tasks', object: tx.tasks.create(task('t1', 's1', 7)) });
    // Big enough for multi-byte length prefixes.
    const big = { ...service('s2', 'big'), spec: { annotations: { name: 'big', labels: { x: 'y'.repeat(70_000) } } } };
    actions.push({ kind: 'create', table: 'services', object: tx.services.create(big) });
  });
  const root = loadProtoRoot(['shoal/swarm/v1/store.proto']);
  const list = root.lookupType('shoal.swarm.v1.StoreActionList');
  const reference = list
    .encode(list.fromObject({ actions: actions.map((a) => ({ kind: a.kind.toUpperCase(), [TABLES[a.table].actionField]: a.object })) }))
    .finish();
  const mine = encodeActions(actions);
  t.true(Buffer.from(mine).equals(reference));
  t.deepEqual(decodeActions(mine), actions);
  t.deepEqual(encodeActions([]).length, 0);
});

test('normalize returns a frozen object decoded from the bytes it returns, and names the first wrong field', (t) => {
  const { object, bytes, size } = normalize('tasks', task('t1', 's1', 3, { nodeId: 'n1' }));
  t.is(size, bytes.length);
  t.true(Object.isFrozen(object) && Object.isFrozen(object.spec?.container));
  // A stored object (every default present) normalizes to itself.
  t.deepEqual(normalize('tasks', cloneObject(object)).object, object);
  const bad = { ...task('t1', 's1', 3), spec: { container: { image: 'x', args: ['a', 5] } } };
  t.throws(() => normalize('tasks', bad), { message: 'Invalid task: spec.container.args[1] must be a string, not number 5.' });
  t.throws(() => normalize('tasks', { ...task('t1', 's1', 3), bogus: 1 }), { message: 'Invalid task: bogus is not a field of Task.' });
  t.throws(() => normalize('nodes', { ...node('n1', 'h'), spec: { annotations: { labels: { a: 1 } } } }), {
    message: 'Invalid node: spec.annotations.labels["a"] must be a string, not number 1.',
  });
});
