import test from 'ava';
import { makeTask } from '../fake-executor/make-task.js';
import { containerSpec, taskName } from './container-spec.js';

test('a task becomes an engine spec: entrypoint, args, limits, mounts, host-mode ports, no restart policy', (t) => {
  const task = makeTask({ id: 'abc', image: 'busybox', serviceName: 'web', slot: 2 });
  const c = task.spec!.container!;
  c.command = ['/bin/sh'];
  c.args = ['-c', 'sleep 1'];
  c.user = 'nobody';
  c.dir = '/tmp';
  c.stop_signal = 'SIGINT';
  c.hosts = ['10.0.0.5 db cache'];
  c.mounts = [{ type: 'TMPFS', source: '', target: '/scratch', read_only: false, consistency: '', bind_options: null, volume_options: null, tmpfs_options: { size_bytes: '1048576', mode: 0o700 } }];
  task.spec!.resources = { limits: { nano_cpus: '500000000', memory_bytes: '67108864', pids: '100' }, reservations: { nano_cpus: '0', memory_bytes: '1024', pids: '0' } };
  task.endpoint = {
    spec: null,
    virtual_ips: [],
    ports: [
      { name: '', protocol: 'TCP', target_port: 80, published_port: 8080, publish_mode: 'HOST' },
      { name: '', protocol: 'UDP', target_port: 53, published_port: 30000, publish_mode: 'INGRESS' },
    ],
  };
  const s = containerSpec(task, 'node-9');
  t.deepEqual([s.entrypoint, s.entrypoint_set, s.cmd], [['/bin/sh'], true, ['-c', 'sleep 1']]);
  t.is(s.user, 'nobody');
  t.is(s.working_dir, '/tmp');
  t.is(s.stop_signal, 'SIGINT');
  t.deepEqual(s.extra_hosts, ['db:10.0.0.5', 'cache:10.0.0.5']);
  t.like(s.resources, { nano_cpus: '500000000', memory: '67108864', memory_reservation: '1024', pids_limit: '100' });
  t.like(s.mounts[0], { type: 'tmpfs', target: '/scratch', tmpfs_size: '1048576', tmpfs_mode: 0o700 });
  t.deepEqual(s.port_bindings, [{ container_port: 80, protocol: 'tcp', host_ip: '', host_port: '8080' }]);
  t.deepEqual(s.restart_policy, { name: 'no', maximum_retry_count: 0 });
  t.is(s.labels['com.docker.swarm.node.id'], 'node-9');
  t.is(taskName(task), 'web.2.abc');
});

test('a global task is named after its node; a task without an image is refused', (t) => {
  const task = makeTask({ id: 'g1', image: 'busybox', serviceName: 'mon', slot: 0, nodeId: 'n7' });
  t.is(taskName(task), 'mon.n7.g1');
  const noImage = makeTask({ id: 'x' });
  t.throws(() => containerSpec(noImage, 'n'), { message: /no container image/ });
});
