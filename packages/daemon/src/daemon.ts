import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { engineProto, errorMessage, swarmProto } from '@shoal/api';
import { createEngine, type AddressPool } from '@shoal/engine';
import { acquireLock, writePidFile } from './lock.js';
import { createLogger, type LogLevel } from './logger.js';
import { imagesServer } from './images-server.js';
import { containersServer } from './containers-server.js';
import { systemServer } from './system-server.js';
import { volumesServer } from './volumes-server.js';
import { networksServer } from './networks-server.js';
import { requestActivity } from './grpc-util.js';
import { SwarmHost } from './swarm-server.js';
import type { Registry } from '@shoal/manager/metrics/index';

/** After this long without a request starting or ending, the daemon collects its garbage. */
const QUIET_MS = 2000;

export interface DaemonOptions {
  dataRoot: string;
  execRoot: string;
  socket: string;
  cgroupParent: string;
  runtime: string;
  logLevel: LogLevel;
  pidFile?: string;
  /** Where volume plugin sockets live; default $SHOAL_PLUGINS_DIR or /run/shoal/plugins. */
  pluginsDir?: string;
  /** --metrics-addr: serve Prometheus metrics at http://ADDR/metrics. */
  metricsAddr?: string;
  /** --default-address-pool, --bip, --iptables. */
  network?: { pools?: AddressPool[]; bip?: string; iptables?: boolean; bridgeNetfilter?: boolean };
}

/**
 * Runs shoald until SIGTERM/SIGINT. Containers keep running when the daemon
 * stops; the next daemon re-adopts them. Throws when the daemon cannot start
 * (another daemon owns the data root, the socket cannot be bound).
 */
export async function runDaemon(o: DaemonOptions): Promise<void> {
  const log = createLogger(o.logLevel);
  const started = Date.now();
  await mkdir(o.dataRoot, { recursive: true, mode: 0o711 });
  await mkdir(o.execRoot, { recursive: true, mode: 0o711 });
  const releaseLock = await acquireLock(join(o.dataRoot, 'shoald.lock'), `the data root ${o.dataRoot}`);
  const removePid = await writePidFile(o.pidFile ?? join(o.execRoot, 'shoald.pid'));

  const engine = await createEngine({
    dataRoot: o.dataRoot,
    execRoot: o.execRoot,
    cgroupParent: o.cgroupParent,
    runtime: o.runtime,
    logger: log,
    ...(o.network ? { network: o.network } : {}),
    pluginsDir: o.pluginsDir ?? (process.env.SHOAL_PLUGINS_DIR || '/run/shoal/plugins'),
  });

  // Metrics load prom-client and the manager's definitions: only when asked for.
  const stopMetrics = new AbortController();
  let registry: Registry | undefined;
  if (o.metricsAddr) {
    const metrics = await import('@shoal/manager/metrics/index');
    registry = metrics.createMetricsRegistry();
    const served = await metrics.startMetricsServer(o.metricsAddr, registry, stopMetrics.signal, { logger: log });
    log.info('serving metrics', { addr: `${served.address}:${served.port}` });
  }
  const swarm = new SwarmHost({
    dataRoot: o.dataRoot,
    logger: log,
    engine,
    ...(registry ? { metrics: registry } : {}),
    ...(process.env.SHOAL_RAFT_TICK_MS ? { raft: { tickMs: Number(process.env.SHOAL_RAFT_TICK_MS) } } : {}),
  });
  if (swarm.wasInSwarm()) {
    await swarm.restore().catch((err: unknown) => log.error('rejoining the swarm failed; the engine runs without it', { error: errorMessage(err) }));
  }

  const proto = engineProto();
  const server = new Server({ 'grpc.max_receive_message_length': 64 << 20, 'grpc.max_send_message_length': 64 << 20 });
  server.addService(proto.Images.service, imagesServer(engine.images, log.child({ component: 'api.images' })));
  server.addService(proto.Containers.service, containersServer(engine, log.child({ component: 'api.containers' })));
  server.addService(proto.Networks.service, networksServer(engine, log.child({ component: 'api.networks' })));
  server.addService(proto.Volumes.service, volumesServer(engine.volumes, log.child({ component: 'api.volumes' })));
  server.addService(
    proto.System.service,
    systemServer(engine, { dataRoot: o.dataRoot, execRoot: o.execRoot, cgroupParent: o.cgroupParent, swarmInfo: () => swarm.info() }),
  );
  server.addService(swarmProto().Swarm.service, swarm.handlers());
  const controlDef = swarmProto().Control.service;
  server.addService(controlDef, swarm.controlHandlers(Object.keys(controlDef)));

  await mkdir(dirname(o.socket), { recursive: true });
  await rm(o.socket, { force: true });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${o.socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  await chmod(o.socket, 0o660);
  log.info('shoald is ready', { socket: o.socket, 'data.root': o.dataRoot, 'startup.ms': Date.now() - started });
  const gc = fullGc();
  requestActivity.onQuiet(QUIET_MS, () => {
    const t = performance.now();
    const before = process.memoryUsage.rss();
    gc();
    log.debug('collected garbage while idle', {
      'gc.ms': Math.round(performance.now() - t),
      'rss.before.mib': Math.round(before / 2 ** 20),
      'rss.after.mib': Math.round(process.memoryUsage.rss() / 2 ** 20),
    });
  });

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      requestActivity.stop();
      log.info('shutting down; containers keep running', { signal: sig });
      const force = setTimeout(() => server.forceShutdown(), 5000);
      force.unref();
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  stopMetrics.abort();
  await swarm.close().catch((err: unknown) => log.warn('leaving the swarm running failed', { error: errorMessage(err) }));
  await engine.close().catch((err: unknown) => log.warn('closing the engine failed', { error: errorMessage(err) }));
  await rm(o.socket, { force: true }).catch(() => undefined);
  await removePid().catch(() => undefined);
  await releaseLock().catch((err: unknown) => log.warn('releasing lock failed', { error: errorMessage(err) }));
  log.info('shoald stopped');
}

/**
 * V8's full, compacting collection. Without it an idle daemon keeps what the
 * last requests left: dead Buffers still hold their native memory and young
 * objects promoted by the last scavenges stay resident until the next old
 * generation collection, which an idle process never reaches (V8's memory
 * reducer does not kick in for a heap this small). The function comes from
 * a fresh context created with --expose-gc, the way test runners get it, so
 * the daemon needs no node option for it.
 */
function fullGc(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
  return gc;
}
