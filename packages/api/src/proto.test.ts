import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import type { MethodDefinition } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { engineDescriptor } from './gen/engine-descriptor.js';
import { swarmDescriptor } from './gen/swarm-descriptor.js';
import { engineProto, LOADER_OPTIONS, PROTO_ROOT, swarmProto } from './proto.js';

const FILES = ['shoal/engine/v1/images.proto', 'shoal/engine/v1/containers.proto', 'shoal/engine/v1/system.proto', 'shoal/engine/v1/volumes.proto', 'shoal/engine/v1/networks.proto'];
const SERVICES = ['Images', 'Containers', 'System', 'Volumes', 'Networks'] as const;

/** What engineProto() used to do: parse the .proto text with proto-loader. */
function parsed(): PackageDefinition {
  return loadSync(FILES, { ...LOADER_OPTIONS, includeDirs: [PROTO_ROOT] });
}

type Methods = Record<string, MethodDefinition<object, object>>;
const ours = (service: (typeof SERVICES)[number]): Methods => engineProto()[service].service;
const theirs = (def: PackageDefinition, service: string): Methods => def[`shoal.engine.v1.${service}`] as unknown as Methods;

test('the precompiled descriptor is up to date with proto/ (run `npm run gen` if not)', (t) => {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    const inRoot = join(PROTO_ROOT, target);
    return existsSync(inRoot) ? inRoot : protobuf.util.path.resolve(origin, target);
  };
  root.loadSync(FILES, { keepCase: true });
  root.resolveAll();
  t.deepEqual(JSON.parse(JSON.stringify(root.toJSON({ keepComments: false }))), engineDescriptor);
});

test('every method has the same path, streaming and names as proto-loader gives', (t) => {
  const def = parsed();
  for (const s of SERVICES) {
    const mine = ours(s);
    const ref = theirs(def, s);
    t.deepEqual(Object.keys(mine), Object.keys(ref), s);
    for (const [name, m] of Object.entries(ref)) {
      const o = mine[name]!;
      t.is(o.path, m.path);
      t.is(o.requestStream, m.requestStream, m.path);
      t.is(o.responseStream, m.responseStream, m.path);
      t.is(o.originalName, m.originalName, m.path);
    }
  }
});

test('every request and response decodes to the same default object as with proto-loader', (t) => {
  const def = parsed();
  const empty = Buffer.alloc(0);
  for (const s of SERVICES) {
    for (const [name, m] of Object.entries(theirs(def, s))) {
      const o = ours(s)[name]!;
      t.deepEqual(o.requestDeserialize(empty), m.requestDeserialize(empty), `${m.path} request`);
      t.deepEqual(o.responseDeserialize(empty), m.responseDeserialize(empty), `${m.path} response`);
    }
  }
});

test('int64, maps, optionals, enums and oneofs convert exactly as with proto-loader', (t) => {
  const def = parsed();
  const create = {
    name: 'web',
    spec: {
      image: 'busybox:latest',
      cmd: ['sh', '-c', 'true'],
      env: ['A=b'],
      labels: { k: 'v', other: '' },
      tmpfs: { '/run': 'size=64m' },
      stop_timeout: 0,
      auto_remove: true,
      restart_policy: { name: 'on-failure', maximum_retry_count: 3 },
      resources: { memory: '134217728', nano_cpus: 1500000000, pids_limit: '-1', ulimits: [{ name: 'nofile', soft: '1024', hard: '2048' }] },
    },
  };
  const attach = { stdin: Buffer.from('hi\n') };
  const cases: [string, string, object][] = [
    ['Containers', 'Create', create],
    ['Containers', 'Attach', attach],
    ['Containers', 'Attach', { close_stdin: true }],
  ];
  for (const [s, name, value] of cases) {
    const mine = ours(s as (typeof SERVICES)[number])[name]!;
    const ref = theirs(def, s)[name]!;
    const bytes = mine.requestSerialize(value);
    t.deepEqual(bytes, ref.requestSerialize(value), `${s}.${name}`);
    t.deepEqual(mine.requestDeserialize(bytes), ref.requestDeserialize(bytes), `${s}.${name}`);
  }
  const frame = { stream: 'EXIT', data: Buffer.from('bye'), time: '1700000000123456789', exit_code: 3 };
  const mine = ours('Containers').Attach!;
  const ref = theirs(def, 'Containers').Attach!;
  const bytes = mine.responseSerialize(frame);
  t.deepEqual(bytes, ref.responseSerialize(frame));
  t.deepEqual(mine.responseDeserialize(bytes), ref.responseDeserialize(bytes));
  t.like(mine.responseDeserialize(bytes), { stream: 'EXIT', time: '1700000000123456789', exit_code: 3 });
  const decoded = ours('Containers').Create!.requestDeserialize(ours('Containers').Create!.requestSerialize(create)) as {
    spec: { resources: { memory: string; pids_limit: string; _pids_limit: string } };
  };
  t.is(decoded.spec.resources.memory, '134217728');
  t.is(decoded.spec.resources.pids_limit, '-1');
  t.is(decoded.spec.resources._pids_limit, 'pids_limit');
});

test('message definitions and method types are still there, built on demand', (t) => {
  const def = parsed();
  const proto = engineProto() as unknown as Record<string, { format: string; type: { name: string } }>;
  t.is(proto.ContainerSpec?.format, 'Protocol Buffer 3 DescriptorProto');
  t.is(proto.ContainerSpec?.type.name, 'ContainerSpec');
  const attach = ours('Containers').Attach as unknown as Record<string, unknown>;
  const ref = theirs(def, 'Containers').Attach as unknown as Record<string, unknown>;
  t.deepEqual((attach.requestType as { type: unknown }).type, (ref.requestType as { type: unknown }).type);
  t.deepEqual(attach.options, ref.options);
});

test('engineProto() neither parses .proto text nor loads proto-loader', (t) => {
  const script = `
    import { createRequire } from 'node:module';
    import { engineProto } from '@shoal/api/proto';
    engineProto().Containers.service.Create.requestSerialize({});
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify(loaded.filter((f) => /proto-loader|protobufjs\\/src\\/parse|protobufjs\\/index\\.js/.test(f))));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(PROTO_ROOT, '..'), encoding: 'utf8' });
  t.deepEqual(JSON.parse(out), []);
});

test('the swarm descriptor is up to date and gives the Control and Dispatcher services', (t) => {
  const files = ['shoal/swarm/v1/control.proto', 'shoal/swarm/v1/dispatcher.proto', 'shoal/swarm/v1/ca.proto', 'shoal/swarm/v1/swarm.proto'];
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    const inRoot = join(PROTO_ROOT, target);
    return existsSync(inRoot) ? inRoot : protobuf.util.path.resolve(origin, target);
  };
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  t.deepEqual(JSON.parse(JSON.stringify(root.toJSON({ keepComments: false }))), swarmDescriptor);
  const def = loadSync(files, { ...LOADER_OPTIONS, includeDirs: [PROTO_ROOT] });
  for (const s of ['Control', 'Dispatcher', 'NodeCA', 'RaftMembership', 'Swarm'] as const) {
    const mine = swarmProto()[s].service as unknown as Methods;
    const ref = def[`shoal.swarm.v1.${s}`] as unknown as Methods;
    t.deepEqual(Object.keys(mine), Object.keys(ref), s);
    for (const [name, m] of Object.entries(ref)) {
      t.is(mine[name]?.path, m.path);
      t.is(mine[name]?.responseStream, m.responseStream);
    }
  }
});
