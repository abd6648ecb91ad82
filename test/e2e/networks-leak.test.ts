// Nothing the engine adds for a container's networking (network namespace,
// veth, iptables rules, port proxies, mounts) outlives it: after two thousand
// create/start/remove cycles on a user network with a published port, the
// daemon's host looks exactly as before. SHOAL_LEAK_CYCLES changes the count
// (the soak: SHOAL_LEAK_CYCLES=5000).
import test from 'ava';
import { credentials } from '@grpc/grpc-js';
import { engineProto } from '@shoal/api';
import type { ContainersClient } from '@shoal/api/gen/shoal/engine/v1/Containers';
import type { ContainerSpec } from '@shoal/api';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { withDaemon, type Daemon } from './harness.js';

const CYCLES = Number(process.env.SHOAL_LEAK_CYCLES ?? 2000);
const PARALLEL = 3;

/** What a container's networking leaves on its host, as counts a leak would change. */
async function footprint(d: Daemon): Promise<Record<string, string>> {
  const sh = async (cmd: string): Promise<string> => (await d.onHost(['sh', '-c', cmd])).stdout.trim();
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(d.dir)).length;
  return {
    links: await sh('ip -o link | wc -l'),
    addresses: await sh('ip -o addr | wc -l'),
    iptables: await sh('iptables-save | grep -v "^[#:]" | wc -l'),
    listeners: await sh('cat /proc/net/tcp /proc/net/udp | grep -c " 0A \\| 07 " || true'),
    mounts: String(mounts),
    netnsFiles: await sh(`find ${d.execRoot} -path '*netns*' -type f | wc -l`),
  };
}

test(`${CYCLES} create/start/remove cycles on a user network with a published port leak nothing`, async (t) => {
  t.timeout(25 * 60_000);
  const d = await withDaemon(t);
  await d.ok(['network', 'create', 'leaky']);
  // One long-lived neighbour, so the network's own state is in place before the baseline.
  await d.ok(['run', '-d', '--name', 'neighbour', '--network', 'leaky', '-p', '80', 'busybox', 'sleep', '100000']);
  const proto = engineProto();
  const rpc: ContainersClient = new proto.Containers(`unix://${d.socket}`, credentials.createInsecure(), { 'grpc.enable_http_proxy': 0 });
  t.teardown(() => rpc.close());
  const create = promisify(rpc.create.bind(rpc));
  const start = promisify(rpc.start.bind(rpc));
  const remove = promisify(rpc.remove.bind(rpc));

  const spec: ContainerSpec = {
    image: 'busybox',
    cmd: ['sleep', '1000'],
    network_mode: 'leaky',
    port_bindings: [{ container_port: 80, protocol: 'tcp', host_ip: '', host_port: '' }],
    network_aliases: ['cycler'],
  };
  const before = await footprint(d);
  let done = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (done < CYCLES) {
        done++;
        const created = await create({ spec });
        const id = created!.id;
        await start({ id });
        await remove({ id, force: true, volumes: true });
      }
    }),
  );
  t.log(`${CYCLES} cycles in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  t.deepEqual(await footprint(d), before);
  // The neighbour is untouched and the network still works for it.
  t.is((await d.ok(['inspect', '-f', '{{.State.Status}}', 'neighbour'])).trim(), 'running');
  await d.ok(['rm', '-f', 'neighbour']);
  await d.ok(['network', 'rm', 'leaky']);
});
