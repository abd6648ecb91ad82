import { arch, release, platform } from 'node:os';
import { nopLogger, type SystemHandlers } from '@shoal/api';
import { toWireEvent, type Engine } from '@shoal/engine';
import { serverStream, unary } from './grpc-util.js';

export const SHOAL_VERSION = '0.1.0';
export const API_VERSION = '1.0';

export interface SystemInfoOptions {
  dataRoot: string;
  execRoot: string;
  cgroupParent: string;
  /** docker info's Swarm section. */
  swarmInfo?: () => Record<string, unknown>;
}

/** Version, info, events, disk usage and prune for the whole daemon. */
export function systemServer(engine: Engine, o: SystemInfoOptions): SystemHandlers {
  const log = nopLogger;
  return {
    Version: unary(log, 'Version', async () => ({
      version: SHOAL_VERSION,
      api_version: API_VERSION,
      git_commit: process.env.SHOAL_GIT_COMMIT ?? '',
      node_version: process.version,
      os: platform(),
      arch: arch() === 'x64' ? 'amd64' : arch(),
      kernel_version: release(),
      runc_version: await engine.runtimeVersion(),
      build_time: '0',
    })),
    Info: unary(log, 'Info', async () => {
      const info = await engine.info(o);
      if (o.swarmInfo) info.Swarm = o.swarmInfo();
      return { json: JSON.stringify(info) };
    }),
    Events: serverStream(log, 'Events', (req, signal) => events(req.since, req.until, req.filters, signal)),
    DiskUsage: unary(log, 'DiskUsage', async () => ({ entries: await engine.diskUsage() })),
    Prune: unary(log, 'Prune', async (req) => engine.systemPrune({ all: req.all, volumes: req.volumes })),
  };

  async function* events(
    since: string,
    until: string,
    filters: { key: string; value: string }[],
    signal: AbortSignal,
  ): AsyncGenerator<ReturnType<typeof toWireEvent>> {
    const s = BigInt(since || '0');
    const u = BigInt(until || '0');
    for await (const e of engine.events.subscribe(
      { ...(s > 0n ? { since: s } : {}), ...(u > 0n ? { until: u } : {}), filters },
      signal,
    )) {
      yield toWireEvent(e);
    }
  }
}
