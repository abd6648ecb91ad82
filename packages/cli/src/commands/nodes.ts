// `node ls/inspect/ps/update/promote/demote/rm`, over the Control API the
// local daemon serves when it is a manager (it answers FailedPrecondition
// with docker's "not a swarm manager" text otherwise; we print it as is).
import { isNotFound, type Node__Output, type NodeSpec__Output, type Service__Output, type Task__Output } from '@shoal/api';
import { ExitError, UsageError } from '../cli-error.js';
import { filterPairs, rpc } from '../swarm/rpc.js';
import type { Context, Handler } from '../context.js';
import { renderList } from '../format/list.js';
import { nodeJson, nodePretty, nodeRow, taskRows } from '../swarm/format.js';
import { keyValues } from '../swarm/service-spec.js';
import { resolveSelf, selfNodeId } from '../swarm/self.js';
import { forEach, printInspect } from './shared.js';

const LS_HEADERS: Record<string, string> = {
  ID: 'ID',
  Hostname: 'HOSTNAME',
  Status: 'STATUS',
  Availability: 'AVAILABILITY',
  ManagerStatus: 'MANAGER STATUS',
  EngineVersion: 'ENGINE VERSION',
  TLSStatus: 'TLS STATUS',
};
const LS_FORMAT = 'table {{.ID}} {{if .Self}}*{{else}} {{end}}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}';

export const PS_HEADERS: Record<string, string> = {
  ID: 'ID',
  Name: 'NAME',
  Image: 'IMAGE',
  Node: 'NODE',
  DesiredState: 'DESIRED STATE',
  CurrentState: 'CURRENT STATE',
  Error: 'ERROR',
  Ports: 'PORTS',
};
export const PS_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}';

async function getNode(ctx: Context, ref: string): Promise<Node__Output> {
  const { control } = await ctx.clients();
  const res = await rpc<{ node: Node__Output }>((cb) => control.GetNode({ node_id: ref }, cb), ctx.signal);
  return res.node;
}

const nodeFilterKeys = new Set(['id', 'label', 'node.label', 'membership', 'name', 'role']);

/** docker's `node ls` filters, applied here so their semantics match docker's (prefixes, labels with or without a value). */
function nodeFilter(filters: ReturnType<typeof filterPairs>): (n: Node__Output) => boolean {
  for (const f of filters) if (!nodeFilterKeys.has(f.key)) throw new UsageError(`invalid filter '${f.key}'`);
  const by = (key: string): string[] => filters.filter((f) => f.key === key).map((f) => f.value);
  const labelMatch = (labels: Record<string, string>, want: string): boolean => {
    const eq = want.indexOf('=');
    if (eq < 0) return want in labels;
    return labels[want.slice(0, eq)] === want.slice(eq + 1);
  };
  return (n) => {
    const any = (key: string, ok: (v: string) => boolean): boolean => by(key).length === 0 || by(key).some(ok);
    return (
      any('id', (v) => n.id.startsWith(v)) &&
      any('name', (v) => (n.description?.hostname ?? '').startsWith(v) || (n.spec?.annotations?.name ?? '').startsWith(v)) &&
      any('role', (v) => v.toLowerCase() === (n.spec?.desired_role ?? 'WORKER').toLowerCase()) &&
      any('membership', (v) => v.toLowerCase() === (n.spec?.membership ?? 'PENDING').toLowerCase()) &&
      by('node.label').every((v) => labelMatch(n.spec?.annotations?.labels ?? {}, v)) &&
      by('label').every((v) => labelMatch(n.description?.engine?.labels ?? {}, v))
    );
  };
}

export const ls: Handler = async (ctx, _args, opts) => {
  const { control } = await ctx.clients();
  const filter = nodeFilter(filterPairs(opts.filter));
  const res = await rpc<{ nodes: Node__Output[] }>((cb) => control.ListNodes({}, cb), ctx.signal);
  const self = await selfNodeId(ctx);
  const nodes = res.nodes
    .filter(filter)
    .sort((a, b) => (a.description?.hostname ?? '').localeCompare(b.description?.hostname ?? '', undefined, { numeric: true }) || a.id.localeCompare(b.id));
  ctx.out(
    renderList(
      nodes.map((n) => nodeRow(n, self)),
      {
        format: (opts.format as string | undefined) ?? '',
        defaultFormat: LS_FORMAT,
        headers: LS_HEADERS,
        quiet: Boolean(opts.quiet),
        quietFormat: '{{.ID}}',
      },
    ),
  );
};

export const inspect: Handler = async (ctx, args, opts) => {
  const refs = await resolveSelf(ctx, args);
  const found: Node__Output[] = [];
  const missing: string[] = [];
  for (const ref of refs) {
    try {
      found.push(await getNode(ctx, ref));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      missing.push(ref);
    }
  }
  if (opts.pretty) {
    ctx.out(found.map(nodePretty).join('\n'));
  } else {
    printInspect(ctx, found.map(nodeJson), opts.format as string | undefined);
  }
  if (missing.length > 0) throw new ExitError(1, missing.map((m) => `Error: No such node: ${m}`).join('\n'));
};

/** Tasks on the given nodes (default: this one), in `service ps`'s table. */
export const ps: Handler = async (ctx, args, opts) => {
  const { control } = await ctx.clients();
  const refs = await resolveSelf(ctx, args.length > 0 ? args : ['self']);
  const nodes: Node__Output[] = [];
  for (const ref of refs) {
    if (ref === 'self') throw new ExitError(1, 'Error: this daemon does not know its swarm node ID; name the node instead of "self"');
    nodes.push(await getNode(ctx, ref));
  }
  const filters = filterPairs(opts.filter);
  const tasks = (
    await rpc<{ tasks: Task__Output[] }>((cb) => control.ListTasks({ filters: { node_ids: nodes.map((n) => n.id) } }, cb), ctx.signal)
  ).tasks.filter(taskFilter(filters));
  const services = (await rpc<{ services: Service__Output[] }>((cb) => control.ListServices({}, cb), ctx.signal)).services;
  printTasks(ctx, tasks, services, nodes, opts);
};

/** docker's `ps` filters on tasks: id, name, node, desired-state. */
export function taskFilter(filters: ReturnType<typeof filterPairs>, nodeNames = new Map<string, string>()): (t: Task__Output) => boolean {
  const allowed = new Set(['id', 'name', 'node', 'desired-state']);
  for (const f of filters) if (!allowed.has(f.key)) throw new UsageError(`invalid filter '${f.key}'`);
  const by = (key: string): string[] => filters.filter((f) => f.key === key).map((f) => f.value);
  for (const v of by('desired-state')) {
    if (!['running', 'shutdown', 'accepted', 'complete', 'ready'].includes(v.toLowerCase())) {
      throw new UsageError(`Invalid desired-state filter value: ${v}; use running, shutdown, accepted or complete`);
    }
  }
  return (t) => {
    const any = (key: string, ok: (v: string) => boolean): boolean => by(key).length === 0 || by(key).some(ok);
    const name = `${t.service_annotations?.name ?? ''}.${t.slot !== '0' ? t.slot : t.node_id}`;
    return (
      any('id', (v) => t.id.startsWith(v)) &&
      any('name', (v) => name.startsWith(v)) &&
      any('node', (v) => t.node_id === v || t.node_id.startsWith(v) || nodeNames.get(t.node_id) === v) &&
      any('desired-state', (v) => v.toLowerCase() === t.desired_state.toLowerCase())
    );
  };
}

/** Prints tasks as `service ps` / `node ps` do. */
export function printTasks(ctx: Context, tasks: Task__Output[], services: Service__Output[], nodes: Node__Output[], opts: Record<string, unknown>): void {
  const trunc = opts.trunc !== false;
  const rows = taskRows(tasks, {
    serviceNames: new Map(services.map((s) => [s.id, s.spec?.annotations?.name ?? s.id])),
    nodeNames: new Map(nodes.map((n) => [n.id, n.description?.hostname || n.id])),
    trunc,
  });
  ctx.out(
    renderList(rows, {
      format: (opts.format as string | undefined) ?? '',
      defaultFormat: PS_FORMAT,
      headers: PS_HEADERS,
      quiet: Boolean(opts.quiet),
      quietFormat: '{{.ID}}',
    }),
  );
}

async function changeNode(ctx: Context, ref: string, change: (spec: NodeSpec__Output) => void): Promise<Node__Output> {
  const { control } = await ctx.clients();
  const node = await getNode(ctx, ref);
  const spec: NodeSpec__Output = structuredClone(node.spec) ?? { annotations: null, desired_role: 'WORKER', membership: 'ACCEPTED', availability: 'ACTIVE' };
  change(spec);
  const res = await rpc<{ node: Node__Output }>((cb) => control.UpdateNode({ node_id: node.id, node_version: node.meta?.version, spec }, cb), ctx.signal);
  return res.node;
}

const AVAILABILITIES: Record<string, NodeSpec__Output['availability']> = { active: 'ACTIVE', pause: 'PAUSE', drain: 'DRAIN' };
const ROLES: Record<string, NodeSpec__Output['desired_role']> = { worker: 'WORKER', manager: 'MANAGER' };

export const update: Handler = async (ctx, args, opts) => {
  const [ref] = await resolveSelf(ctx, args);
  const availability = opts.availability as string | undefined;
  const role = opts.role as string | undefined;
  if (availability !== undefined && !AVAILABILITIES[availability.toLowerCase()]) {
    throw new UsageError(`invalid argument "${availability}" for "--availability" flag: invalid availability: use active, pause or drain`);
  }
  if (role !== undefined && !ROLES[role.toLowerCase()]) {
    throw new UsageError(`invalid argument "${role}" for "--role" flag: invalid role: use worker or manager`);
  }
  const add = keyValues(opts.labelAdd, '--label-add');
  const rm = Array.isArray(opts.labelRm) ? (opts.labelRm as string[]) : [];
  await changeNode(ctx, ref ?? '', (spec) => {
    if (availability !== undefined) spec.availability = AVAILABILITIES[availability.toLowerCase()] ?? spec.availability;
    if (role !== undefined) spec.desired_role = ROLES[role.toLowerCase()] ?? spec.desired_role;
    const labels = { ...(spec.annotations?.labels ?? {}) };
    for (const k of rm) {
      if (!(k in labels)) throw new ExitError(1, `Error response from daemon: key ${k} doesn't exist in node's labels`);
      delete labels[k];
    }
    Object.assign(labels, add);
    spec.annotations = { name: spec.annotations?.name ?? '', labels };
  });
  ctx.out(`${ref ?? ''}\n`);
};

function roleChange(to: 'MANAGER' | 'WORKER'): Handler {
  return async (ctx, args) => {
    const refs = await resolveSelf(ctx, args);
    return forEach(ctx, refs, async (ref) => {
      const node = await getNode(ctx, ref);
      if (node.spec?.desired_role === to) {
        ctx.out(to === 'MANAGER' ? `Node ${ref} is already a manager.\n` : `Node ${ref} is already a worker.\n`);
        return;
      }
      await changeNode(ctx, node.id, (spec) => {
        spec.desired_role = to;
      });
      ctx.out(to === 'MANAGER' ? `Node ${ref} promoted to a manager in the swarm.\n` : `Manager ${ref} demoted in the swarm.\n`);
    });
  };
}

export const promote = roleChange('MANAGER');
export const demote = roleChange('WORKER');

export const rm: Handler = async (ctx, args, opts) => {
  const { control } = await ctx.clients();
  return forEach(ctx, args, async (ref) => {
    await rpc((cb) => control.RemoveNode({ node_id: ref, force: Boolean(opts.force) }, cb), ctx.signal);
    ctx.out(`${ref}\n`);
  });
};
