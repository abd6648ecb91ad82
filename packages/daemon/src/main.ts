#!/usr/bin/env node
// shoald: the Shoal daemon. The composition root: engine + local API.
import { Command, Option } from 'commander';
import { errorMessage } from '@shoal/api';
import { runDaemon, type DaemonOptions } from './daemon.js';

const program = new Command('shoald')
  .description('The Shoal daemon: runs containers and serves the local API')
  .option('--data-root <dir>', 'root directory of persistent state', '/var/lib/shoal')
  .option('--exec-root <dir>', 'root directory of run-time state (sockets, pid file, bundles)', '/run/shoal')
  .option('-H, --host <addr>', 'local API socket (unix:///path)', 'unix:///run/shoal/shoald.sock')
  .option('--cgroup-parent <name>', 'parent cgroup of every container', 'shoal')
  .option('--runtime <path>', 'the OCI runtime binary', 'runc')
  .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error', 'fatal']).default('info'))
  .option('--pidfile <path>', 'pid file (default <exec-root>/shoald.pid)')
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
}>();

if (!opts.host.startsWith('unix://')) {
  process.stderr.write(`shoald: -H ${opts.host}: only unix:///path sockets are supported for the local API\n`);
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
}).catch((err: unknown) => {
  process.stderr.write(`shoald: ${errorMessage(err)}\n`);
  process.exit(1);
});
