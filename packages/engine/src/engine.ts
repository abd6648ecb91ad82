import { mkdir } from 'node:fs/promises';
import { totalmem, cpus, release, hostname } from 'node:os';
import { join } from 'node:path';
import type { DiskUsageEntry, Logger, Resources__Output, SystemPruneResponse } from '@shoal/api';
import { EventBus } from './events/bus.js';
import { ContainerService, emptyResources } from './containers/service.js';
import { ContainerIO } from './containers/io.js';
import { NetworkService } from './networks/service.js';
import type { AddressPool } from './networks/ipam.js';
import { VolumeService } from './volumes/volume-service.js';
import { RuncRuntime, validateResources } from './containers/runc-runtime.js';
import type { SnapshotPort } from './containers/ports.js';
import { OverlaySnapshotter } from './snapshots/overlay-snapshotter.js';
import { mountAt, unmount } from './snapshots/mount.js';
import { ImageService } from './images/image-service.js';
import { cgroupMode } from './cgroups/mode.js';

export interface EngineOptions {
  dataRoot: string;
  execRoot: string;
  cgroupParent: string;
  runtime: string;
  logger: Logger;
  /** Where volume plugin sockets live (default /run/shoal/plugins). */
  pluginsDir?: string;
  /** Networking flags: --default-address-pool, --bip, --iptables. */
  network?: { pools?: AddressPool[]; bip?: string; iptables?: boolean; bridgeNetfilter?: boolean };
}

/** The container engine of one host: images, snapshots, containers, events. */
export interface Engine {
  images: ImageService;
  containers: ContainerService;
  volumes: VolumeService;
  networks: NetworkService;
  io: ContainerIO;
  events: EventBus;
  runtimeVersion(): Promise<string>;
  info(o: { dataRoot: string; execRoot: string; cgroupParent: string }): Promise<Record<string, unknown>>;
  diskUsage(): Promise<DiskUsageEntry[]>;
  systemPrune(o: { all: boolean; volumes?: boolean }): Promise<SystemPruneResponse>;
  /** Stops watching containers (they keep running) and releases standby shims. */
  close(): Promise<void>;
}

/**
 * Builds and initialises the engine: loads images, snapshots and containers
 * and re-adopts containers whose processes outlived the previous daemon.
 * Throws when the data root cannot be read.
 */
export async function createEngine(o: EngineOptions): Promise<Engine> {
  const events = new EventBus();
  const log = o.logger;
  await mkdir(join(o.execRoot, 'containers'), { recursive: true });

  const snapshotter = new OverlaySnapshotter(join(o.dataRoot, 'snapshots'));
  await snapshotter.init();

  const late: { containers?: ContainerService } = {};
  const images = new ImageService({
    root: join(o.dataRoot, 'image'),
    snapshotter,
    logger: log.child({ component: 'images' }),
    isImageInUse: (id: string) => late.containers?.containerUsingImage(id),
    events: (_type: 'image', action: string, id: string, attributes: Record<string, string>) => events.publish('image', action, id, attributes),
  });
  await images.init();

  const runtime = new RuncRuntime({
    execRoot: join(o.execRoot, 'containers'),
    runcRoot: join(o.execRoot, 'runc'),
    runtime: o.runtime,
    cgroupParent: o.cgroupParent,
    logger: log.child({ component: 'runtime' }),
  });

  const snapshots: SnapshotPort = {
    prepare: async (key, parent) => {
      await snapshotter.prepare(key, parent);
    },
    mount: async (key, target) => {
      await unmount(target).catch(() => undefined);
      await mountAt(await snapshotter.mounts(key), target);
    },
    unmount: (target) => unmount(target),
    remove: (key) => snapshotter.remove(key),
    usage: async (key) => (await snapshotter.usage(key)).size,
  };

  const volumes = new VolumeService({
    root: join(o.dataRoot, 'volumes'),
    pluginsDir: o.pluginsDir ?? '/run/shoal/plugins',
    logger: log.child({ component: 'volumes' }),
  });
  await volumes.init();

  const networks = new NetworkService({
    root: join(o.dataRoot, 'network'),
    netnsDir: join(o.execRoot, 'netns'),
    logger: log.child({ component: 'networks' }),
    ...(o.network?.pools ? { pools: o.network.pools } : {}),
    ...(o.network?.bip ? { bip: o.network.bip } : {}),
    ...(o.network?.iptables === false ? { iptables: false } : {}),
    ...(o.network?.bridgeNetfilter === false ? { bridgeNetfilter: false } : {}),
    containers: () => late.containers!,
    imageExposedPorts: async (rec) => Object.keys((await images.resolve(rec.imageId).catch(() => undefined))?.config.ExposedPorts ?? {}),
  });
  await networks.init();

  const containers = new ContainerService({
    root: join(o.dataRoot, 'containers'),
    execRoot: join(o.execRoot, 'containers'),
    images,
    snapshots,
    runtime,
    networks,
    volumes,
    events,
    logger: log.child({ component: 'containers' }),
    validateResources: (r: Resources__Output | null) => validateResources({ spec: { resources: r ?? emptyResources() } as never }),
  });
  late.containers = containers;
  volumes.setContainers(containers);
  await containers.init();
  await networks.adopt(containers.list());
  const c = containers;
  const io = new ContainerIO(c, runtime, images, (rec, action, extra) => c.publish(rec, action, extra));

  return {
    images,
    containers: c,
    volumes,
    networks,
    io,
    events,
    runtimeVersion: () => runtime.version(),
    async info(p) {
      const all = c.list();
      const imgs = await images.list({ all: false, filters: [] });
      return {
        ID: hostname(),
        Containers: all.length,
        ContainersRunning: all.filter((r) => r.state.status === 'running').length,
        ContainersPaused: all.filter((r) => r.state.status === 'paused').length,
        ContainersStopped: all.filter((r) => !['running', 'paused'].includes(r.state.status)).length,
        Images: imgs.length,
        Driver: 'overlay2',
        LoggingDriver: 'json-file',
        CgroupDriver: 'cgroupfs',
        CgroupVersion: cgroupMode() === 'v2' ? '2' : '1',
        CgroupParent: p.cgroupParent,
        KernelVersion: release(),
        OperatingSystem: 'linux',
        OSType: 'linux',
        Architecture: process.arch === 'x64' ? 'x86_64' : process.arch,
        NCPU: cpus().length,
        MemTotal: totalmem(),
        DockerRootDir: p.dataRoot,
        ExecRoot: p.execRoot,
        Name: hostname(),
        ServerVersion: '0.1.0',
        DefaultRuntime: 'runc',
        Runtimes: { runc: { path: o.runtime } },
        SecurityOptions: ['name=seccomp,profile=builtin'],
        Swarm: { LocalNodeState: 'inactive' },
      };
    },
    async diskUsage() {
      const du = await images.diskUsage();
      const recs = c.list();
      let csize = 0;
      let creclaim = 0;
      for (const r of recs) {
        const s = await c.sizeRw(r);
        csize += s;
        if (!['running', 'paused'].includes(r.state.status)) creclaim += s;
      }
      const active = recs.filter((r) => ['running', 'paused'].includes(r.state.status)).length;
      return [
        { type: du.type, total: String(du.total), active: String(du.active), size: String(du.size), reclaimable: String(du.reclaimable) },
        { type: 'Containers', total: String(recs.length), active: String(active), size: String(csize), reclaimable: String(creclaim) },
        await volumes.diskUsage(),
        { type: 'Build Cache', total: '0', active: '0', size: '0', reclaimable: '0' },
      ];
    },
    async systemPrune({ all, volumes: withVolumes }) {
      const pc = await c.prune(() => true);
      const pv = withVolumes ? await volumes.pruneVolumes({ all: false, filters: [] }) : { deleted: [], reclaimed: 0 };
      const pi = await images.prune({ all, filters: [] });
      return {
        deleted_containers: pc.deleted,
        deleted_images: pi.deleted,
        untagged_images: pi.untagged,
        deleted_volumes: pv.deleted,
        space_reclaimed: String(pc.reclaimed + pv.reclaimed + Number(pi.spaceReclaimed)),
      };
    },
    async close() {
      c.close();
      await networks.close();
      await runtime.close();
    },
  };
}
