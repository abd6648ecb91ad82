// How swarm objects look on the command line: docker's words for states and
// modes, table rows for `node ls`, `service ls`, `service ps`, and the
// docker-shaped JSON `inspect` prints (so `--format '{{.Spec.Name}}'` works).
import type { Node__Output, PortConfig__Output, ResourceAmounts__Output, Service__Output, TaskMount__Output, Task__Output } from '@shoal/api';
import { ellipsis, humanDuration } from '../format/human.js';
import { durationMs } from './duration.js';

type Ts = { seconds?: string | number | null; nanos?: number | null } | null | undefined;

/** Milliseconds since the epoch of a protobuf Timestamp (undefined when unset). */
export function tsMs(ts: Ts): number | undefined {
  if (!ts) return undefined;
  return Number(ts.seconds ?? 0) * 1000 + Math.trunc((ts.nanos ?? 0) / 1e6);
}

/** RFC 3339 with nanoseconds, as docker's JSON shows times. */
export function tsString(ts: Ts): string {
  if (!ts) return '0001-01-01T00:00:00Z';
  const iso = new Date(Number(ts.seconds ?? 0) * 1000).toISOString().slice(0, 19);
  const nanos = ts.nanos ?? 0;
  return nanos === 0 ? `${iso}Z` : `${iso}.${String(nanos).padStart(9, '0').replace(/0+$/, '')}Z`;
}

const lower = (s: string | null | undefined): string => (s ?? '').toLowerCase().replace(/_/g, '-');
/** "RUNNING" → "Running", "ON_FAILURE" → "On-failure". */
export const title = (s: string | null | undefined): string => {
  const l = lower(s);
  return l.charAt(0).toUpperCase() + l.slice(1);
};

/** The task state word docker uses (lowercase): running, shutdown, … */
export const stateWord = (s: string | null | undefined): string => lower(s ?? 'NEW');

/** "*:8080->80/tcp" for published ports (ingress or host), as `service ls`/`ps` show them. */
export function formatPorts(ports: readonly PortConfig__Output[] | null | undefined): string {
  return (ports ?? [])
    .filter((p) => p.published_port > 0)
    .map((p) => `*:${p.published_port}->${p.target_port}/${lower(p.protocol)}`)
    .join(', ');
}

export type ModeName = 'replicated' | 'global' | 'replicated-job' | 'global-job';

export function serviceModeName(s: Service__Output): ModeName {
  const spec = s.spec;
  const m = spec?.mode ?? (spec?.global ? 'global' : spec?.replicated_job ? 'replicated_job' : spec?.global_job ? 'global_job' : 'replicated');
  return m.replace('_', '-') as ModeName;
}

// ---------- nodes ----------

/** One `node ls` row; `.Self` marks the node the CLI's daemon runs on. */
export function nodeRow(n: Node__Output, selfId: string | undefined): Record<string, unknown> {
  const ms = n.manager_status;
  let managerStatus = '';
  if (ms) managerStatus = ms.leader ? 'Leader' : ms.reachability === 'REACHABLE' ? 'Reachable' : ms.reachability === 'UNREACHABLE' ? 'Unreachable' : 'Unknown';
  const labels = n.spec?.annotations?.labels ?? {};
  const row: Record<string, unknown> = {
    ID: n.id,
    Self: n.id === selfId,
    Hostname: n.description?.hostname ?? '',
    Status: title(n.status?.state ?? 'UNKNOWN'),
    Availability: title(n.spec?.availability ?? 'ACTIVE'),
    ManagerStatus: managerStatus,
    EngineVersion: n.description?.engine?.engine_version ?? '',
    TLSStatus: 'Ready',
  };
  Object.defineProperty(row, 'Label', { enumerable: false, value: (k: string) => labels[k] ?? '' });
  return row;
}

/** A node as docker's API shows it. */
export function nodeJson(n: Node__Output): Record<string, unknown> {
  const d = n.description;
  const out: Record<string, unknown> = {
    ID: n.id,
    Version: { Index: Number(n.meta?.version?.index ?? 0) },
    CreatedAt: tsString(n.meta?.created_at),
    UpdatedAt: tsString(n.meta?.updated_at),
    Spec: {
      ...(n.spec?.annotations?.name ? { Name: n.spec.annotations.name } : {}),
      Labels: n.spec?.annotations?.labels ?? {},
      Role: lower(n.spec?.desired_role ?? 'WORKER'),
      Availability: lower(n.spec?.availability ?? 'ACTIVE'),
    },
    Description: {
      Hostname: d?.hostname ?? '',
      Platform: { Architecture: d?.platform?.architecture ?? '', OS: d?.platform?.os ?? '' },
      Resources: { NanoCPUs: Number(d?.resources?.nano_cpus ?? 0), MemoryBytes: Number(d?.resources?.memory_bytes ?? 0) },
      Engine: {
        EngineVersion: d?.engine?.engine_version ?? '',
        Labels: d?.engine?.labels ?? {},
        Plugins: (d?.engine?.plugins ?? []).map((p) => ({ Type: p.type, Name: p.name })),
      },
    },
    Status: { State: lower(n.status?.state ?? 'UNKNOWN'), ...(n.status?.message ? { Message: n.status.message } : {}), Addr: n.status?.addr ?? '' },
  };
  if (n.manager_status) {
    out.ManagerStatus = {
      ...(n.manager_status.leader ? { Leader: true } : {}),
      Reachability: lower(n.manager_status.reachability),
      Addr: n.manager_status.addr,
    };
  }
  return out;
}

function humanBytes(b: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = b;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Math.round(v * 1000) / 1000}${units[i] ?? 'B'}`;
}

/** `node inspect --pretty`. */
export function nodePretty(n: Node__Output): string {
  const d = n.description;
  const lines = [
    `ID:\t\t\t${n.id}`,
    ...(n.spec?.annotations?.name ? [`Name:\t\t\t${n.spec.annotations.name}`] : []),
  ];
  const labels = Object.entries(n.spec?.annotations?.labels ?? {});
  if (labels.length > 0) lines.push('Labels:', ...labels.map(([k, v]) => ` - ${k}${v === '' ? '' : `=${v}`}`));
  lines.push(
    `Hostname:\t\t${d?.hostname ?? ''}`,
    `Joined at:\t\t${new Date(tsMs(n.meta?.created_at) ?? 0).toISOString()}`,
    'Status:',
    ` State:\t\t\t${title(n.status?.state ?? 'UNKNOWN')}`,
    ` Availability:\t\t${title(n.spec?.availability ?? 'ACTIVE')}`,
    ` Address:\t\t${n.status?.addr ?? ''}`,
  );
  if (n.manager_status) {
    lines.push(
      'Manager Status:',
      ` Address:\t\t${n.manager_status.addr}`,
      ` Raft Status:\t\t${title(n.manager_status.reachability)}`,
      ` Leader:\t\t${n.manager_status.leader ? 'Yes' : 'No'}`,
    );
  }
  lines.push(
    'Platform:',
    ` Operating System:\t${d?.platform?.os ?? ''}`,
    ` Architecture:\t\t${d?.platform?.architecture ?? ''}`,
    'Resources:',
    ` CPUs:\t\t\t${Number(d?.resources?.nano_cpus ?? 0) / 1e9}`,
    ` Memory:\t\t${humanBytes(Number(d?.resources?.memory_bytes ?? 0))}`,
  );
  const plugins = d?.engine?.plugins ?? [];
  if (plugins.length > 0) {
    lines.push('Plugins:');
    const byType = new Map<string, string[]>();
    for (const p of plugins) byType.set(p.type, [...(byType.get(p.type) ?? []), p.name]);
    for (const [type, names] of [...byType].sort()) lines.push(` ${type}:\t\t${names.sort().join(', ')}`);
  }
  lines.push(`Engine Version:\t\t${d?.engine?.engine_version ?? ''}`);
  const engineLabels = Object.entries(d?.engine?.labels ?? {});
  if (engineLabels.length > 0) lines.push('Engine Labels:', ...engineLabels.map(([k, v]) => ` - ${k}=${v}`));
  return `${lines.join('\n')}\n`;
}

// ---------- services ----------

/** `service ls`'s REPLICAS column. */
export function replicasColumn(s: Service__Output, running: number, desired: number, completed: number): string {
  const spec = s.spec;
  const mode = serviceModeName(s);
  const maxPerNode = Number(spec?.task?.placement?.max_replicas ?? 0);
  if (mode === 'replicated-job') {
    return `${running}/${Number(spec?.replicated_job?.max_concurrent ?? 0)} (${completed}/${Number(spec?.replicated_job?.total_completions ?? 0)} completed)`;
  }
  if (mode === 'global-job') return `${running}/${desired} (${completed}/${desired} completed)`;
  const base = `${running}/${mode === 'replicated' ? Number(spec?.replicated?.replicas ?? 0) : desired}`;
  return maxPerNode > 0 && mode === 'replicated' ? `${base} (max ${maxPerNode} per node)` : base;
}

function mountJson(m: TaskMount__Output): Record<string, unknown> {
  return {
    Type: lower(m.type),
    ...(m.source ? { Source: m.source } : {}),
    Target: m.target,
    ...(m.read_only ? { ReadOnly: true } : {}),
  };
}

const ns = (d: Parameters<typeof durationMs>[0]): number => Math.round(durationMs(d) * 1e6);

function specJson(spec: Service__Output['spec']): Record<string, unknown> | undefined {
  if (!spec) return undefined;
  const t = spec.task;
  const c = t?.container;
  const res = t?.resources;
  const amounts = (a: ResourceAmounts__Output | null): Record<string, number> => {
    const o: Record<string, number> = {};
    if (Number(a?.nano_cpus ?? 0)) o.NanoCPUs = Number(a?.nano_cpus);
    if (Number(a?.memory_bytes ?? 0)) o.MemoryBytes = Number(a?.memory_bytes);
    if (Number(a?.pids ?? 0)) o.Pids = Number(a?.pids);
    return o;
  };
  const mode = spec.mode ?? (spec.global ? 'global' : spec.replicated_job ? 'replicated_job' : spec.global_job ? 'global_job' : 'replicated');
  const modeJson =
    mode === 'replicated'
      ? { Replicated: { Replicas: Number(spec.replicated?.replicas ?? 0) } }
      : mode === 'global'
        ? { Global: {} }
        : mode === 'replicated_job'
          ? { ReplicatedJob: { MaxConcurrent: Number(spec.replicated_job?.max_concurrent ?? 0), TotalCompletions: Number(spec.replicated_job?.total_completions ?? 0) } }
          : { GlobalJob: {} };
  return {
    Name: spec.annotations?.name ?? '',
    Labels: spec.annotations?.labels ?? {},
    TaskTemplate: {
      ContainerSpec: {
        Image: c?.image ?? '',
        ...(Object.keys(c?.labels ?? {}).length ? { Labels: c?.labels } : {}),
        ...(c?.command.length ? { Command: c.command } : {}),
        ...(c?.args.length ? { Args: c.args } : {}),
        ...(c?.hostname ? { Hostname: c.hostname } : {}),
        ...(c?.env.length ? { Env: c.env } : {}),
        ...(c?.dir ? { Dir: c.dir } : {}),
        ...(c?.user ? { User: c.user } : {}),
        ...(c?.mounts.length ? { Mounts: c.mounts.map(mountJson) } : {}),
        ...(c?.stop_grace_period ? { StopGracePeriod: ns(c.stop_grace_period) } : {}),
        ...(c?.stop_signal ? { StopSignal: c.stop_signal } : {}),
        ...(c?.tty ? { TTY: true } : {}),
        ...(c?.read_only ? { ReadOnly: true } : {}),
        ...(c?.init != null ? { Init: c.init } : {}),
      },
      Resources: { Limits: amounts(res?.limits ?? null), Reservations: amounts(res?.reservations ?? null) },
      RestartPolicy: {
        Condition: lower(t?.restart?.condition ?? 'ANY'),
        Delay: ns(t?.restart?.delay),
        MaxAttempts: Number(t?.restart?.max_attempts ?? 0),
        ...(t?.restart?.window ? { Window: ns(t.restart.window) } : {}),
      },
      Placement: {
        ...(t?.placement?.constraints.length ? { Constraints: t.placement.constraints } : {}),
        ...(t?.placement?.preferences.length
          ? { Preferences: t.placement.preferences.map((p) => ({ Spread: { SpreadDescriptor: p.spread?.spread_descriptor ?? '' } })) }
          : {}),
        ...(Number(t?.placement?.max_replicas ?? 0) ? { MaxReplicas: Number(t?.placement?.max_replicas) } : {}),
      },
      ...(t?.networks.length ? { Networks: t.networks.map((n) => ({ Target: n.target, ...(n.aliases.length ? { Aliases: n.aliases } : {}) })) } : {}),
      ForceUpdate: Number(t?.force_update ?? 0),
    },
    Mode: modeJson,
    EndpointSpec: {
      Mode: lower(spec.endpoint?.mode ?? 'VIP'),
      ...(spec.endpoint?.ports.length ? { Ports: spec.endpoint.ports.map(portJson) } : {}),
    },
  };
}

function portJson(p: PortConfig__Output): Record<string, unknown> {
  return {
    ...(p.name ? { Name: p.name } : {}),
    Protocol: lower(p.protocol),
    TargetPort: p.target_port,
    ...(p.published_port ? { PublishedPort: p.published_port } : {}),
    PublishMode: lower(p.publish_mode),
  };
}

/** A service as docker's API shows it. */
export function serviceJson(s: Service__Output): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ID: s.id,
    Version: { Index: Number(s.meta?.version?.index ?? 0) },
    CreatedAt: tsString(s.meta?.created_at),
    UpdatedAt: tsString(s.meta?.updated_at),
    Spec: specJson(s.spec),
  };
  if (s.previous_spec) out.PreviousSpec = specJson(s.previous_spec);
  out.Endpoint = {
    Spec: { Mode: lower(s.spec?.endpoint?.mode ?? 'VIP'), ...(s.spec?.endpoint?.ports.length ? { Ports: s.spec.endpoint.ports.map(portJson) } : {}) },
    ...(s.endpoint?.ports.length ? { Ports: s.endpoint.ports.map(portJson) } : {}),
    ...(s.endpoint?.virtual_ips.length ? { VirtualIPs: s.endpoint.virtual_ips.map((v) => ({ NetworkID: v.network_id, Addr: v.addr })) } : {}),
  };
  if (s.update_status) out.UpdateStatus = { State: lower(s.update_status.state), Message: s.update_status.message };
  if (s.job_status) out.JobStatus = { JobIteration: { Index: Number(s.job_status.job_iteration?.index ?? 0) }, LastExecution: tsString(s.job_status.last_execution) };
  return out;
}

/** `service inspect --pretty`. */
export function servicePretty(s: Service__Output): string {
  const spec = s.spec;
  const t = spec?.task;
  const c = t?.container;
  const mode = serviceModeName(s);
  const lines = ['', `ID:\t\t${s.id}`, `Name:\t\t${spec?.annotations?.name ?? ''}`];
  const labels = Object.entries(spec?.annotations?.labels ?? {});
  if (labels.length > 0) lines.push('Labels:', ...labels.map(([k, v]) => ` ${k}=${v}`));
  lines.push(`Service Mode:\t${mode === 'replicated' ? 'Replicated' : mode === 'global' ? 'Global' : mode === 'replicated-job' ? 'ReplicatedJob' : 'GlobalJob'}`);
  if (mode === 'replicated') lines.push(` Replicas:\t${Number(spec?.replicated?.replicas ?? 0)}`);
  if (mode === 'replicated-job') {
    lines.push(` Max Concurrent Tasks:\t${Number(spec?.replicated_job?.max_concurrent ?? 0)}`, ` Total Completions:\t${Number(spec?.replicated_job?.total_completions ?? 0)}`);
  }
  const p = t?.placement;
  if (p && (p.constraints.length || p.preferences.length || Number(p.max_replicas))) {
    lines.push('Placement:');
    if (p.constraints.length) lines.push(` Constraints:\t[${p.constraints.join(' ')}]`);
    if (p.preferences.length) lines.push(' Preferences:', ...p.preferences.map((x) => `   Spread: ${x.spread?.spread_descriptor ?? ''}`));
    if (Number(p.max_replicas)) lines.push(` Max Replicas Per Node:\t${Number(p.max_replicas)}`);
  }
  const r = t?.restart;
  if (r) {
    lines.push('RestartPolicy:', ` Condition:\t${lower(r.condition)}`, ` Delay:\t\t${Math.round(durationMs(r.delay) / 1000)}s`);
    if (Number(r.max_attempts)) lines.push(` Max Attempts:\t${Number(r.max_attempts)}`);
    if (r.window) lines.push(` Window:\t${Math.round(durationMs(r.window) / 1000)}s`);
  }
  lines.push('ContainerSpec:', ` Image:\t\t${c?.image ?? ''}`);
  if (c?.args.length) lines.push(` Args:\t\t${c.args.join(' ')} `);
  if (c?.command.length) lines.push(` Entrypoint:\t${c.command.join(' ')}`);
  if (c?.env.length) lines.push(` Env:\t\t${c.env.join(' ')}`);
  if (c?.dir) lines.push(` Dir:\t\t${c.dir}`);
  if (c?.user) lines.push(` User:\t\t${c.user}`);
  if (c?.hostname) lines.push(` Hostname:\t${c.hostname}`);
  if (c?.stop_signal) lines.push(` StopSignal:\t${c.stop_signal}`);
  if (c?.init != null) lines.push(` Init:\t\t${String(c.init)}`);
  if (c?.mounts.length) {
    lines.push('Mounts:');
    for (const m of c.mounts) lines.push(` Target:\t${m.target}`, `  Source:\t${m.source}`, `  ReadOnly:\t${String(m.read_only)}`, `  Type:\t\t${lower(m.type)}`);
  }
  const res = t?.resources;
  const hasAmount = (a: ResourceAmounts__Output | null): boolean =>
    Boolean(a && (Number(a.nano_cpus) || Number(a.memory_bytes) || Number(a.pids)));
  if (res && (hasAmount(res.limits) || hasAmount(res.reservations))) {
    lines.push('Resources:');
    for (const [label, a] of [['Reservations', res.reservations], ['Limits', res.limits]] as const) {
      if (!hasAmount(a)) continue;
      lines.push(` ${label}:`);
      if (Number(a?.nano_cpus)) lines.push(`  CPU:\t\t${Number(a?.nano_cpus) / 1e9}`);
      if (Number(a?.memory_bytes)) lines.push(`  Memory:\t${humanBytes(Number(a?.memory_bytes))}`);
      if (Number(a?.pids)) lines.push(`  PIDs:\t\t${Number(a?.pids)}`);
    }
  }
  if (t?.networks.length) lines.push(`Networks:\t${t.networks.map((n) => n.target).join(' ')}`);
  lines.push(`Endpoint Mode:\t${lower(spec?.endpoint?.mode ?? 'VIP')}`);
  const ports = spec?.endpoint?.ports ?? [];
  if (ports.length) {
    lines.push('Ports:');
    for (const pc of ports) {
      lines.push(` PublishedPort = ${pc.published_port}`, `  Protocol = ${lower(pc.protocol)}`, `  TargetPort = ${pc.target_port}`, `  PublishMode = ${lower(pc.publish_mode)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

// ---------- tasks ----------

/** "Running 2 minutes ago", as `service ps` shows the current state. */
export function currentState(t: Task__Output, now = Date.now()): string {
  const at = tsMs(t.status?.timestamp) ?? tsMs(t.meta?.created_at);
  const word = title(t.status?.state ?? 'NEW');
  return at === undefined ? word : `${word} ${humanDuration(Math.max(0, now - at))} ago`;
}

export interface TaskRowContext {
  serviceNames: Map<string, string>;
  nodeNames: Map<string, string>;
  trunc: boolean;
  now?: number;
}

/** The `service ps` / `node ps` rows: each slot's newest task first, older ones indented under it with " \_ ". */
export function taskRows(tasks: readonly Task__Output[], ctx: TaskRowContext): Record<string, unknown>[] {
  const slotKey = (t: Task__Output): string => `${t.service_id}\u0000${t.slot !== '0' ? t.slot : t.node_id}`;
  const groups = new Map<string, Task__Output[]>();
  for (const t of tasks) groups.set(slotKey(t), [...(groups.get(slotKey(t)) ?? []), t]);
  const sortedGroups = [...groups.values()].map((g) => g.sort((a, b) => taskTime(b) - taskTime(a)));
  const serviceName = (t: Task__Output): string => ctx.serviceNames.get(t.service_id) ?? t.service_annotations?.name ?? t.service_id;
  sortedGroups.sort((a, b) => {
    const x = a[0]!;
    const y = b[0]!;
    return serviceName(x).localeCompare(serviceName(y)) || Number(x.slot) - Number(y.slot) || x.node_id.localeCompare(y.node_id);
  });
  const rows: Record<string, unknown>[] = [];
  for (const group of sortedGroups) {
    group.forEach((t, i) => {
      const base = `${serviceName(t)}.${t.slot !== '0' ? t.slot : t.node_id}`;
      const name = ctx.trunc ? base : `${base}.${t.id}`;
      const err = t.status?.err ?? '';
      rows.push({
        ID: ctx.trunc ? t.id.slice(0, 12) : t.id,
        Name: i === 0 ? name : ` \\_ ${name}`,
        Image: t.spec?.container?.image ?? '',
        Node: ctx.nodeNames.get(t.node_id) ?? t.node_id,
        DesiredState: title(t.desired_state),
        CurrentState: currentState(t, ctx.now),
        Error: err === '' ? '' : ctx.trunc ? `"${ellipsis(err, 30)}"` : `"${err}"`,
        Ports: formatPorts(t.endpoint?.ports),
      });
    });
  }
  return rows;
}

function taskTime(t: Task__Output): number {
  return tsMs(t.meta?.created_at) ?? tsMs(t.status?.timestamp) ?? 0;
}
