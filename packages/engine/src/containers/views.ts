import { familiarReference, normalizeReference, type ContainerSummary, type Filter__Output } from '@shoal/api';
import { humanDuration } from './human.js';
import type { ContainerRecord } from './record.js';

/** docker ps's STATUS column: "Up 3 minutes (Paused)", "Exited (0) 2 seconds ago", "Created". */
export function statusText(rec: ContainerRecord, now = Date.now()): string {
  const s = rec.state;
  switch (s.status) {
    case 'running':
      return `Up ${humanDuration(now - Date.parse(s.startedAt))}`;
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(s.startedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${s.exitCode}) ${humanDuration(now - Date.parse(s.finishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    case 'exited':
      return `Exited (${s.exitCode}) ${humanDuration(now - Date.parse(s.finishedAt))} ago`;
    default:
      return 'Created';
  }
}

/** The command as docker ps shows it (unquoted here; the CLI quotes and truncates). */
export function commandText(rec: ContainerRecord): string {
  return [rec.config.path, ...rec.config.args].join(' ');
}

/** What the network and volume services say about a container, for ps and inspect. */
export interface AttachmentViews {
  ports: string;
  networks: string;
  mounts: string;
  networkSettings: Record<string, unknown>;
  mountPoints: Record<string, unknown>[];
}

export function summary(rec: ContainerRecord, views: Pick<AttachmentViews, 'ports' | 'networks' | 'mounts'>, sizeRw?: number): ContainerSummary {
  return {
    id: rec.id,
    names: [`/${rec.name}`],
    image: rec.imageRef,
    image_id: rec.imageId,
    command: commandText(rec),
    created: String(Math.floor(Date.parse(rec.created) / 1000)),
    state: rec.state.status,
    status: statusText(rec),
    labels: rec.config.labels,
    size_rw: String(sizeRw ?? 0),
    size_root_fs: '0',
    ports: views.ports,
    mounts: views.mounts,
    networks: views.networks,
  };
}

/**
 * docker ps --filter: different keys AND, repeated keys OR. Throws nothing;
 * unknown keys were rejected by the caller.
 */
export function containerFilter(filters: Filter__Output[], resolveImage: (ref: string) => string | undefined): (rec: ContainerRecord) => boolean {
  const byKey = new Map<string, string[]>();
  for (const f of filters) byKey.set(f.key, [...(byKey.get(f.key) ?? []), f.value]);
  return (rec) => {
    for (const [key, values] of byKey) {
      const ok = values.some((v) => {
        switch (key) {
          case 'id':
            return rec.id.startsWith(v);
          case 'name':
            return new RegExp(v).test(rec.name) || new RegExp(v).test(`/${rec.name}`);
          case 'status':
            return rec.state.status === v;
          case 'label': {
            const i = v.indexOf('=');
            return i < 0 ? v in rec.config.labels : rec.config.labels[v.slice(0, i)] === v.slice(i + 1);
          }
          case 'exited':
            return rec.state.status === 'exited' && String(rec.state.exitCode) === v;
          case 'ancestor': {
            if (rec.imageId === v || rec.imageId === `sha256:${v}` || rec.imageId.startsWith(`sha256:${v}`)) return true;
            const id = resolveImage(v);
            if (id !== undefined && id === rec.imageId) return true;
            try {
              return normalizeReference(rec.imageRef) === normalizeReference(v);
            } catch {
              return false;
            }
          }
          case 'before':
          case 'since':
            return true; // applied by the caller, which knows the other container's creation time
          case 'network':
            return rec.spec.network_mode === v;
          default:
            return false;
        }
      });
      if (!ok) return false;
    }
    return true;
  };
}

export const CONTAINER_FILTER_KEYS = ['id', 'name', 'status', 'label', 'exited', 'ancestor', 'before', 'since', 'network'];

/** `docker container inspect`'s document. */
export function inspectDocument(
  rec: ContainerRecord,
  views: Pick<AttachmentViews, 'networkSettings' | 'mountPoints'>,
  extra: { sizeRw?: number; rootfs?: string },
): Record<string, unknown> {
  const s = rec.state;
  const r = rec.spec.resources;
  const num = (v: string | undefined): number => Number(v ?? 0);
  let image = rec.imageRef;
  try {
    image = familiarReference(normalizeReference(rec.imageRef));
  } catch {
    // an image ID: keep as given
  }
  return {
    Id: rec.id,
    Created: rec.created,
    Path: rec.config.path,
    Args: rec.config.args,
    State: {
      Status: s.status,
      Running: s.status === 'running' || s.status === 'paused',
      Paused: s.status === 'paused',
      Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled,
      Dead: s.status === 'dead',
      Pid: s.pid,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt,
      FinishedAt: s.finishedAt,
    },
    Image: rec.imageId,
    ResolvConfPath: rec.resolvConfPath,
    HostnamePath: rec.hostnamePath,
    HostsPath: rec.hostsPath,
    LogPath: rec.logPath,
    Name: `/${rec.name}`,
    RestartCount: rec.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      Binds: null,
      ContainerIDFile: '',
      LogConfig: { Type: rec.spec.log_config?.type || 'json-file', Config: rec.spec.log_config?.config ?? {} },
      NetworkMode: rec.spec.network_mode,
      PortBindings: {},
      RestartPolicy: { Name: rec.spec.restart_policy?.name ?? 'no', MaximumRetryCount: rec.spec.restart_policy?.maximum_retry_count ?? 0 },
      AutoRemove: rec.spec.auto_remove,
      CapAdd: rec.spec.cap_add.length ? rec.spec.cap_add : null,
      CapDrop: rec.spec.cap_drop.length ? rec.spec.cap_drop : null,
      Init: rec.spec.init || null,
      Privileged: rec.spec.privileged,
      ReadonlyRootfs: rec.spec.readonly_rootfs,
      SecurityOpt: rec.spec.security_opt.length ? rec.spec.security_opt : null,
      Tmpfs: Object.keys(rec.spec.tmpfs).length ? rec.spec.tmpfs : undefined,
      CpuShares: num(r?.cpu_shares),
      Memory: num(r?.memory),
      NanoCpus: num(r?.nano_cpus),
      CpuPeriod: num(r?.cpu_period),
      CpuQuota: num(r?.cpu_quota),
      CpusetCpus: r?.cpuset_cpus ?? '',
      MemoryReservation: num(r?.memory_reservation),
      MemorySwap: num(r?.memory_swap),
      PidsLimit: r?.pids_limit !== undefined && num(r.pids_limit) > 0 ? num(r.pids_limit) : null,
      Ulimits: r?.ulimits.length ? r.ulimits.map((u) => ({ Name: u.name, Soft: num(u.soft), Hard: num(u.hard) })) : null,
    },
    GraphDriver: { Name: 'overlay2', Data: { MergedDir: extra.rootfs ?? '' } },
    ...(extra.sizeRw !== undefined ? { SizeRw: extra.sizeRw, SizeRootFs: 0 } : {}),
    Mounts: views.mountPoints,
    Config: {
      Hostname: rec.config.hostname,
      Domainname: rec.config.domainname,
      User: rec.config.user,
      AttachStdin: rec.spec.open_stdin,
      AttachStdout: true,
      AttachStderr: true,
      Tty: rec.spec.tty,
      OpenStdin: rec.spec.open_stdin,
      StdinOnce: rec.spec.stdin_once,
      Env: rec.config.env,
      Cmd: rec.config.cmd.length ? rec.config.cmd : null,
      Image: image,
      Volumes: null,
      WorkingDir: rec.config.workingDir === '/' ? '' : rec.config.workingDir,
      Entrypoint: rec.config.entrypoint.length ? rec.config.entrypoint : null,
      OnBuild: null,
      Labels: rec.config.labels,
      StopSignal: rec.config.stopSignal,
      ...(rec.config.stopTimeout !== undefined ? { StopTimeout: rec.config.stopTimeout } : {}),
    },
    NetworkSettings: views.networkSettings,
  };
}
