import test from 'ava';
import { isInvalidArgument } from '@shoal/api';
import type { Node__Output } from '@shoal/api';
import { nodeMatches, parseConstraints } from './constraint.js';

function node(o: {
  id?: string;
  hostname?: string;
  role?: 'WORKER' | 'MANAGER';
  os?: string;
  arch?: string;
  labels?: Record<string, string>;
  engineLabels?: Record<string, string>;
}): Node__Output {
  return {
    id: o.id ?? 'n1',
    meta: null,
    role: o.role ?? 'WORKER',
    spec: {
      annotations: { name: '', labels: o.labels ?? {} },
      desired_role: o.role ?? 'WORKER',
      membership: 'ACCEPTED',
      availability: 'ACTIVE',
    },
    description: {
      hostname: o.hostname ?? 'host1',
      platform: { os: o.os ?? 'linux', architecture: o.arch ?? 'amd64' },
      resources: null,
      engine: { engine_version: '', labels: o.engineLabels ?? {}, plugins: [] },
    },
    status: null,
    manager_status: null,
  };
}

const matches = (exprs: string[], n: Node__Output) => nodeMatches(parseConstraints(exprs), n);

test('every supported key matches with == and !=', (t) => {
  const n = node({ id: 'abc', hostname: 'web-1', role: 'MANAGER', os: 'linux', arch: 'arm64', labels: { zone: 'a' }, engineLabels: { disk: 'ssd' } });
  t.true(matches(['node.id==abc'], n));
  t.true(matches(['node.hostname==web-1'], n));
  t.true(matches(['node.role==manager'], n));
  t.true(matches(['node.role!=worker'], n));
  t.true(matches(['node.platform.os==linux'], n));
  t.true(matches(['node.platform.arch==arm64'], n));
  t.true(matches(['node.labels.zone==a'], n));
  t.true(matches(['engine.labels.disk==ssd'], n));
  t.false(matches(['node.labels.zone!=a'], n));
  t.false(matches(['node.hostname==web-2'], n));
  t.false(matches(['node.role==worker'], n));
  t.true(matches(['node.role==manager', 'node.labels.zone==a', 'engine.labels.disk!=hdd'], n));
  t.false(matches(['node.role==manager', 'node.labels.zone==b'], n));
});

test('values compare case-insensitively, keys too, label names keep their case', (t) => {
  const n = node({ hostname: 'Web-1', labels: { Zone: 'East' } });
  t.true(matches(['NODE.HOSTNAME==web-1'], n));
  t.true(matches(['node.labels.Zone==east'], n));
  t.false(matches(['node.labels.zone==east'], n));
});

test('a missing label reads as empty: == fails, != holds', (t) => {
  const n = node({});
  t.false(matches(['node.labels.zone==a'], n));
  t.true(matches(['node.labels.zone!=a'], n));
  t.false(matches(['engine.labels.disk==ssd'], n));
});

test('spaces around the operator are allowed', (t) => {
  const [c] = parseConstraints(['  node.labels.zone  ==  a ']);
  t.is(c?.value, 'a');
  t.is(c?.operator, '==');
  t.deepEqual(c?.key, { kind: 'node.labels', label: 'zone' });
});

test('an empty list matches every node', (t) => {
  t.true(nodeMatches([], node({})));
});

for (const [expr, fragment] of [
  ['node.role=manager', 'has no operator'],
  ['node.role', 'has no operator'],
  ['node.rack==a', 'unknown key "node.rack"'],
  ['==a', 'the key is empty'],
  ['node.labels.==a', 'names no label'],
  ['node.labels.zone==', 'the value is empty'],
  ['node.labels.zone==a<b', 'has characters values cannot have'],
  ['node.labels.zone==a==b', 'has characters values cannot have'],
  ['node.labels.zo ne==a', 'label name "zo ne"'],
] as const) {
  test(`bad syntax is refused: ${expr}`, (t) => {
    const err = t.throws(() => parseConstraints(['node.role==worker', expr]));
    t.true(isInvalidArgument(err));
    t.true(err.message.includes(`"${expr.trim()}"`), err.message);
    t.true(err.message.includes(fragment), err.message);
    t.true(err.message.includes('accepted forms are KEY==VALUE and KEY!=VALUE'), err.message);
  });
}
