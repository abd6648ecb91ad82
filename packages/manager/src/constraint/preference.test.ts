import test from 'ava';
import { isInvalidArgument } from '@shoal/api';
import type { Node__Output } from '@shoal/api';
import { parseSpreadDescriptor, spreadValue } from './preference.js';

test('spread descriptors: node and engine labels', (t) => {
  t.deepEqual(parseSpreadDescriptor('node.labels.zone'), { kind: 'node.labels', label: 'zone' });
  t.deepEqual(parseSpreadDescriptor('engine.labels.rack'), { kind: 'engine.labels', label: 'rack' });
  for (const bad of ['node.hostname', 'node.labels.', 'zone', 'node.labels.a b']) {
    const err = t.throws(() => parseSpreadDescriptor(bad));
    t.true(isInvalidArgument(err));
    t.true(err.message.includes(`"spread=${bad}"`), err.message);
  }
});

test('a node without the label reads as the empty value', (t) => {
  const n = { id: 'n', spec: { annotations: { name: '', labels: { zone: 'a' } } }, description: null } as unknown as Node__Output;
  t.is(spreadValue({ kind: 'node.labels', label: 'zone' }, n), 'a');
  t.is(spreadValue({ kind: 'node.labels', label: 'rack' }, n), '');
  t.is(spreadValue({ kind: 'engine.labels', label: 'zone' }, n), '');
});
