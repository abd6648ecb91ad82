// `service create/ls/ps/inspect/scale/update/rm` over the Control API.
// create, update and scale wait for the service to converge (docker's
// progress display) unless -d/--detach.
import { isNotFound, type Node__Output, type Service__Output, type ServiceSpec, type Task__Output } from '@shoal/api';
import { ExitError, UsageError } from '../cli-error.js';
import { filterPairs, rpc } from '../swarm/rpc.js';
import type { Context, Handler } from '../context.js';
import { renderList } from '../format/list.js';
import { formatPorts, replicasColumn, serviceJson, serviceModeName, servicePretty } from '../swarm/format.js';
import { waitForService } from '../swarm/progress.js';
import { applyServiceUpdate, buildServiceSpec, modeOf, parseUint } from '../swarm/service-spec.js';
import { printTasks, taskFilter } from './nodes.js';
import { forEach, printInspect } from './shared.js';

const LS_HEADERS: Record<string, string> = {
  ID: 'ID',
  Name: 'NAME',
  Mode: 'MODE',
  Replicas: 'REPLICAS',
  Image: 'IMAGE',
  Ports: 'PORTS',
};
const LS_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}';

async function getService(ctx: Context, ref: string): Promise<Service__Output> {
  const { control } = await ctx.clients();
  return (await rpc<{ service: Service__Output }>((cb) => control.GetService({ service_id: ref }, cb), ctx.signal)).service;
}

/** Waits for convergence unless detached; prints docker's progress on stdout. */
async function converge(ctx: Context, serviceId: string, opts: Record<string, unknown>): Promise<void> {
  if (opts.detach) return;
  const { control } = await ctx.clients();
  await waitForService({
    control,
    serviceId,
    out: (s) => ctx.out(s),
    tty: ctx.io.stdout.isTTY === true,
    quiet: Boolean(opts.quiet),
    signal: ctx.signal,
  });
}

export const create: Handler = async (ctx, args, opts) => {
  const { control } = await ctx.clients();
  const spec = buildServiceSpec(args, opts, ctx.io.env);
  const res = await rpc<{ service: Service__Output }>((cb) => control.CreateService({ spec }, cb), ctx.signal);
  ctx.out(`${res.service.id}\n`);
  await converge(ctx, res.service.id, opts);
};

const serviceFilterKeys = new Set(['id', 'label', 'mode', 'name']);

export const ls: Handler = async (ctx, _args, opts) => {
  const { control } = await ctx.clients();
  const filters = filterPairs(opts.filter);
  for (const f of filters) if (!serviceFilterKeys.has(f.key)) throw new UsageError(`invalid filter '${f.key}'`);
  const by = (key: string): string[] => filters.filter((f) => f.key === key).map((f) => f.value);
  const [services, tasks, nodes] = await Promise.all([
    rpc<{ services: Service__Output[] }>((cb) => control.ListServices({}, cb), ctx.signal).then((r) => r.services),
    rpc<{ tasks: Task__Output[] }>((cb) => control.ListTasks({}, cb), ctx.signal).then((r) => r.tasks),
    rpc<{ nodes: Node__Output[] }>((cb) => control.ListNodes({}, cb), ctx.signal).then((r) => r.nodes),
  ]);
  const downNodes = new Set(nodes.filter((n) => n.status?.state === 'DOWN').map((n) => n.id));
  const labelOk = (labels: Record<string, string>, want: string): boolean => {
    const eq = want.indexOf('=');
    return eq < 0 ? want in labels : labels[want.slice(0, eq)] === want.slice(eq + 1);
  };
  const shown = services
    .filter(
      (s) =>
        (by('id').length === 0 || by('id').some((v) => s.id.startsWith(v))) &&
        (by('name').length === 0 || by('name').some((v) => (s.spec?.annotations?.name ?? '').startsWith(v))) &&
        (by('mode').length === 0 || by('mode').includes(serviceModeName(s))) &&
        by('label').every((v) => labelOk(s.spec?.annotations?.labels ?? {}, v)),
    )
    .sort((a, b) => (a.spec?.annotations?.name ?? '').localeCompare(b.spec?.annotations?.name ?? ''));
  const rows = shown.map((s) => {
    const mine = tasks.filter((t) => t.service_id === s.id && !downNodes.has(t.node_id));
    const job = serviceModeName(s).endsWith('-job');
    const iteration = s.spec_version?.index ?? '0';
    const current = job ? mine.filter((t) => t.job_iteration?.index === iteration) : mine;
    const running = current.filter((t) => t.status?.state === 'RUNNING' && t.desired_state === (job ? 'COMPLETE' : 'RUNNING')).length;
    const desired = job ? new Set(current.map((t) => t.node_id)).size : current.filter((t) => t.desired_state === 'RUNNING').length;
    const completed = current.filter((t) => t.status?.state === 'COMPLETE').length;
    return {
      ID: opts.trunc === false ? s.id : s.id.slice(0, 12),
      Name: s.spec?.annotations?.name ?? '',
      Mode: serviceModeName(s),
      Replicas: replicasColumn(s, running, desired, completed),
      Image: s.spec?.task?.container?.image ?? '',
      Ports: formatPorts(s.endpoint?.ports.length ? s.endpoint.ports : s.spec?.endpoint?.ports),
    };
  });
  ctx.out(
    renderList(rows, {
      format: (opts.format as string | undefined) ?? '',
      defaultFormat: LS_FORMAT,
      headers: LS_HEADERS,
      quiet: Boolean(opts.quiet),
      quietFormat: '{{.ID}}',
    }),
  );
};

export const ps: Handler = async (ctx, args, opts) => {
  const { control } = await ctx.clients();
  const services: Service__Output[] = [];
  const missing: string[] = [];
  for (const ref of args) {
    try {
      services.push(await getService(ctx, ref));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      missing.push(ref);
    }
  }
  if (missing.length > 0) throw new ExitError(1, `no such service: ${missing.join(', ')}`);
  const [tasks, nodes] = await Promise.all([
    rpc<{ tasks: Task__Output[] }>((cb) => control.ListTasks({ filters: { service_ids: services.map((s) => s.id) } }, cb), ctx.signal).then(
      (r) => r.tasks,
    ),
    rpc<{ nodes: Node__Output[] }>((cb) => control.ListNodes({}, cb), ctx.signal).then((r) => r.nodes),
  ]);
  const nodeNames = new Map(nodes.map((n) => [n.id, n.description?.hostname ?? '']));
  printTasks(ctx, tasks.filter(taskFilter(filterPairs(opts.filter), nodeNames)), services, nodes, opts);
};

export const inspect: Handler = async (ctx, args, opts) => {
  const found: Service__Output[] = [];
  const missing: string[] = [];
  for (const ref of args) {
    try {
      found.push(await getService(ctx, ref));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      missing.push(ref);
    }
  }
  if (opts.pretty) ctx.out(found.map(servicePretty).join('\n'));
  else printInspect(ctx, found.map(serviceJson), opts.format as string | undefined);
  if (missing.length > 0) throw new ExitError(1, missing.map((m) => `Error: no such service: ${m}`).join('\n'));
};

async function updateSpec(ctx: Context, service: Service__Output, spec: ServiceSpec, rollback = false): Promise<Service__Output> {
  const { control } = await ctx.clients();
  const res = await rpc<{ service: Service__Output }>(
    (cb) =>
      control.UpdateService(
        { service_id: service.id, service_version: service.meta?.version, ...(rollback ? { rollback: 'PREVIOUS' } : { spec }) },
        cb,
      ),
    ctx.signal,
  );
  return res.service;
}

export const scale: Handler = async (ctx, args, opts) => {
  const wanted: Array<[string, number]> = [];
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid scale specifier '${a}': use SERVICE=REPLICAS`);
    const name = a.slice(0, eq);
    const value = a.slice(eq + 1);
    if (!/^\d+$/.test(value)) throw new UsageError(`invalid replicas value for ${name}: "${value}"; it must be a whole number, 0 or more`);
    wanted.push([name, parseUint(value, 'replicas')]);
  }
  const scaled: string[] = [];
  const code = await forEach(
    ctx,
    wanted.map(([n]) => n),
    async (name) => {
      const n = wanted.find(([x]) => x === name)?.[1] ?? 0;
      const service = await getService(ctx, name);
      const mode = modeOf(service.spec);
      if (mode !== 'replicated' && mode !== 'replicated_job') {
        throw new ExitError(1, `${name}: scale can only be used with replicated or replicated-job mode`);
      }
      const spec = structuredClone(service.spec) as ServiceSpec;
      if (mode === 'replicated') spec.replicated = { replicas: n };
      else spec.replicated_job = { ...spec.replicated_job, total_completions: n };
      await updateSpec(ctx, service, spec);
      ctx.out(`${name} scaled to ${n}\n`);
      scaled.push(service.id);
    },
  );
  let failed = code !== 0;
  for (const id of scaled) {
    try {
      await converge(ctx, id, opts);
    } catch (err) {
      failed = true;
      ctx.err(`${(err as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
};

export const update: Handler = async (ctx, args, opts) => {
  const ref = args[0] ?? '';
  const service = await getService(ctx, ref);
  let updated: Service__Output;
  if (opts.rollback) {
    updated = await updateSpec(ctx, service, {}, true);
  } else {
    const spec = applyServiceUpdate(service.spec as ServiceSpec, opts, ctx.io.env);
    updated = await updateSpec(ctx, service, spec);
  }
  ctx.out(`${ref}\n`);
  await converge(ctx, updated.id, opts);
};

export const rm: Handler = async (ctx, args) => {
  const { control } = await ctx.clients();
  return forEach(ctx, args, async (ref) => {
    await rpc((cb) => control.RemoveService({ service_id: ref }, cb), ctx.signal);
    ctx.out(`${ref}\n`);
  });
};
