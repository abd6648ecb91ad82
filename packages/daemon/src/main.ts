#!/usr/bin/env node
// shoald: the Shoal daemon. The composition root: engine + local API.
import { setFlagsFromString } from 'node:v8';
import type { DaemonOptions } from './daemon.js';

// Memory (issue: an idle shoald ≤ 60 MB RSS). V8 doubles the young
// generation on busy scavenges up to 2×8 MB, and every page of it stays
// resident once touched; a daemon allocates little per request, so the
// initial 2×1 MB (scavenges of well under a millisecond) is plenty. This is
// set here, before anything else loads, rather than as a node option, so it
// holds however the daemon is launched (bin/shoald, the e2e harness and the
// benchmark run `node packages/daemon/dist/main.js`). The CLI equivalent is
// `node --max-semi-space-size=1`. Flags set at run time must only be ones V8
// reads as it goes: the growth factor is read at each scavenge.
setFlagsFromString('--semi-space-growth-factor=1');

const { Command, Option } = await import('commander');
const { errorMessage } = await import('@shoal/api');

const program = new Command('shoald')
  .description('The Shoal daemon: runs containers and serves the local API')
  .option('--data-root <dir>', 'root directory of persistent state', '/var/lib/shoal')
  .option('--exec-root <dir>', 'root directory of run-time state (sockets, pid file, bundles)', '/run/shoal')
  .option('-H, --host <addr>', 'local API socket (unix:///path)', 'unix:///run/shoal/shoald.sock')
  .option('--cgroup-parent <name>', 'parent cgroup of every container', 'shoal')
  .option('--runtime <path>', 'the OCI runtime binary', 'runc')
  .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error', 'fatal']).default('info'))
  .option('--pidfile <path>', 'pid file (default <exec-root>/shoald.pid)')
  .option('--default-address-pool <pool>', 'default address pool for networks: base=CIDR,size=N (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
  .option('--bip <cidr>', 'address and prefix of the default bridge, e.g. 10.99.0.1/24')
  .option('--metrics-addr <host:port>', 'serve Prometheus metrics at http://host:port/metrics (off by default)')
  .option('--no-bridge-netfilter', 'switched container-to-container traffic skips iptables (net.bridge.bridge-nf-call-iptables=0 in this namespace): faster bridges, but affects every bridge in the namespace')
  .option('--no-iptables', 'do not add iptables rules (no NAT, isolation or published ports through iptables)')
  .version(process.env.SHOAL_VERSION ?? '0.1.0', '-v, --version', 'print the version');

program.parse();
const opts = program.opts<{
  dataRoot: string;
  execRoot: string;
  host: string;
  cgroupParent: string;
  runtime: string;
  logLevel: DaemonOptions['logLevel'];
  pidfile?: string;
  defaultAddressPool?: string[];
  bip?: string;
  iptables: boolean;
  bridgeNetfilter: boolean;
  metricsAddr?: string;
}>();

if (!opts.host.startsWith('unix://')) {
  process.stderr.write(`shoald: -H ${opts.host}: only unix:///path sockets are supported for the local API\n`);
  process.exit(1);
}

const { runDaemon } = await import('./daemon.js');
const { parseAddressPool } = await import('@shoal/engine');
let pools;
try {
  pools = (opts.defaultAddressPool ?? []).map(parseAddressPool);
} catch (err) {
  process.stderr.write(`shoald: ${errorMessage(err)}\n`);
  process.exit(1);
}
runDaemon({
  dataRoot: opts.dataRoot,
  execRoot: opts.execRoot,
  socket: opts.host.slice('unix://'.length),
  cgroupParent: opts.cgroupParent,
  runtime: opts.runtime,
  logLevel: opts.logLevel,
  ...(opts.pidfile ? { pidFile: opts.pidfile } : {}),
  ...(opts.metricsAddr ? { metricsAddr: opts.metricsAddr } : {}),
  network: { pools, ...(opts.bip ? { bip: opts.bip } : {}), iptables: opts.iptables, bridgeNetfilter: opts.bridgeNetfilter },
}).catch((err: unknown) => {
  process.stderr.write(`shoald: ${errorMessage(err)}\n`);
  process.exit(1);
});
