import type { Logger, VolumeInfo, VolumesHandlers } from '@shoal/api';
import type { VolumeService, VolumeView } from '@shoal/engine';
import { unary } from './grpc-util.js';

/** The Volumes gRPC service over the engine's volume service. */
export function volumesServer(volumes: VolumeService, log: Logger): VolumesHandlers {
  return {
    Create: unary(log, 'Create', async (req, signal) =>
      toWire(await volumes.createVolume({ name: req.name, driver: req.driver, options: req.driver_opts, labels: req.labels }, signal)),
    ),
    List: unary(log, 'List', async (req, signal) => ({ volumes: (await volumes.listVolumes(req.filters, signal)).map(toWire), warnings: [] })),
    Inspect: unary(log, 'Inspect', async (req, signal) => toWire(await volumes.inspectVolume(req.name, signal))),
    Remove: unary(log, 'Remove', async (req, signal) => {
      await volumes.removeVolume(req.name, req.force, signal);
      return {};
    }),
    Prune: unary(log, 'Prune', async (req, signal) => {
      const r = await volumes.pruneVolumes({ all: req.all, filters: req.filters }, signal);
      return { deleted: r.deleted, space_reclaimed: String(r.reclaimed) };
    }),
  };
}

function toWire(v: VolumeView): VolumeInfo {
  return {
    name: v.name,
    driver: v.driver,
    mountpoint: v.mountpoint,
    created_at: v.createdAt,
    labels: v.labels,
    options: v.options,
    scope: v.scope,
    status_json: v.status ? JSON.stringify(v.status) : '',
    ref_count: String(v.refCount),
    size: String(v.size),
  };
}
