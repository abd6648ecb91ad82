// `shoal swarm init | join | leave | join-token | update`, with docker's
// messages. Daemon errors exit 1, as docker's swarm commands do.
import type { InitRequest, JoinTokenResponse__Output, UpdateSwarmRequest } from '@shoal/api';
import { unary } from '../client/connect.js';
import { UsageError } from '../cli-error.js';
import type { Context } from '../context.js';
import { forEach } from './shared.js';
import type { Handler } from '../context.js';

const UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Go's time.ParseDuration ("5s", "2160h0m0s", "1.5h") in seconds. Throws UsageError naming the flag. */
export function parseDuration(value: string, flag: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (value === '' || matched !== value.length) throw new UsageError(`invalid argument "${value}" for "${flag}" flag: time: invalid duration "${value}"`);
  return total;
}

function duration(seconds: number): { seconds: string; nanos: number } {
  const whole = Math.floor(seconds);
  return { seconds: String(whole), nanos: Math.round((seconds - whole) * 1e9) };
}

function specFlags(opts: Record<string, unknown>): { spec: NonNullable<InitRequest['spec']>; fields: string[] } {
  const spec: NonNullable<InitRequest['spec']> = {};
  const fields: string[] = [];
  if (typeof opts.dispatcherHeartbeat === 'string') {
    spec.dispatcher = { heartbeat_period: duration(parseDuration(opts.dispatcherHeartbeat, '--dispatcher-heartbeat')) };
    fields.push('dispatcher');
  }
  if (typeof opts.certExpiry === 'string') {
    spec.ca_config = { node_cert_expiry: duration(parseDuration(opts.certExpiry, '--cert-expiry')) };
    fields.push('ca_config');
  }
  if (typeof opts.taskHistoryLimit === 'string') {
    if (!/^\d+$/.test(opts.taskHistoryLimit)) throw new UsageError(`invalid argument "${opts.taskHistoryLimit}" for "--task-history-limit" flag: use a number ≥ 0`);
    spec.orchestration = { task_history_retention_limit: opts.taskHistoryLimit };
    fields.push('orchestration');
  }
  return { spec, fields };
}

/** Runs one daemon call; prints docker's "Error response from daemon" and exits 1 on failure. */
function once(ctx: Context, fn: () => Promise<void>): Promise<number> {
  return forEach(ctx, [''], fn);
}

function joinCommand(token: string, addr: string): string {
  return `    shoal swarm join --token ${token} ${addr}\n`;
}

export const init: Handler = async (ctx, _args, opts) => {
  const { spec } = specFlags(opts);
  const pools = Array.isArray(opts.defaultAddrPool) ? (opts.defaultAddrPool as string[]) : [];
  const req: InitRequest = {
    listen_addr: (opts.listenAddr as string | undefined) ?? '',
    advertise_addr: (opts.advertiseAddr as string | undefined) ?? '',
    data_path_port: opts.dataPathPort === undefined ? 0 : Number(opts.dataPathPort),
    default_addr_pool: pools,
    force_new_cluster: opts.forceNewCluster === true,
    spec,
  };
  if (req.data_path_port !== 0 && !(Number(req.data_path_port) >= 1024 && Number(req.data_path_port) <= 49151)) {
    throw new UsageError(`invalid argument "${String(opts.dataPathPort)}" for "--data-path-port" flag: use a port between 1024 and 49151`);
  }
  const { swarm } = await ctx.clients();
  return once(ctx, async () => {
    const res = await unary<{ node_id: string }>((cb) => swarm.Init(req, cb), ctx.signal);
    const tok = await unary<JoinTokenResponse__Output>((cb) => swarm.JoinToken({ role: 'worker', rotate: false }, cb), ctx.signal);
    ctx.out(`Swarm initialized: current node (${res.node_id}) is now a manager.\n\n`);
    ctx.out(`To add a worker to this swarm, run the following command:\n\n${joinCommand(tok.token, tok.manager_addr)}\n`);
    ctx.out("To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the instructions.\n\n");
  });
};

export const join: Handler = async (ctx, args, opts) => {
  const token = opts.token as string | undefined;
  if (!token) throw new UsageError('"shoal swarm join" requires --token: get it with `shoal swarm join-token worker` on a manager');
  const availability = ((opts.availability as string | undefined) ?? 'active').toLowerCase();
  if (!['active', 'pause', 'drain'].includes(availability)) {
    throw new UsageError(`invalid argument "${availability}" for "--availability" flag: use active, pause or drain`);
  }
  const { swarm } = await ctx.clients();
  return once(ctx, async () => {
    await unary(
      (cb) =>
        swarm.Join(
          {
            join_token: token,
            remote_addrs: args,
            listen_addr: (opts.listenAddr as string | undefined) ?? '',
            advertise_addr: (opts.advertiseAddr as string | undefined) ?? '',
            availability,
          },
          cb,
        ),
      ctx.signal,
    );
    const info = JSON.parse(
      (await unary<{ json: string }>((cb) => swarm.Inspect({}, cb), ctx.signal)).json,
    ) as { ControlAvailable?: boolean };
    ctx.out(`This node joined a swarm as a ${info.ControlAvailable ? 'manager' : 'worker'}.\n`);
  });
};

export const leave: Handler = async (ctx, _args, opts) => {
  const { swarm } = await ctx.clients();
  return once(ctx, async () => {
    await unary((cb) => swarm.Leave({ force: opts.force === true }, cb), ctx.signal);
    ctx.out('Node left the swarm.\n');
  });
};

export const joinToken: Handler = async (ctx, args, opts) => {
  const role = args[0] ?? '';
  if (role !== 'worker' && role !== 'manager') throw new UsageError(`unknown role ${role}: use worker or manager`);
  const { swarm } = await ctx.clients();
  return once(ctx, async () => {
    const res = await unary<JoinTokenResponse__Output>((cb) => swarm.JoinToken({ role, rotate: opts.rotate === true }, cb), ctx.signal);
    if (opts.quiet === true) {
      ctx.out(`${res.token}\n`);
      return;
    }
    if (opts.rotate === true) ctx.out(`Successfully rotated ${role} join token.\n\n`);
    ctx.out(`To add a ${role} to this swarm, run the following command:\n\n${joinCommand(res.token, res.manager_addr)}\n`);
  });
};

export const update: Handler = async (ctx, _args, opts) => {
  const { spec, fields } = specFlags(opts);
  if (fields.length === 0) throw new UsageError('swarm update needs at least one flag to change (--dispatcher-heartbeat, --cert-expiry, --task-history-limit)');
  const req: UpdateSwarmRequest = { spec, fields };
  const { swarm } = await ctx.clients();
  return once(ctx, async () => {
    await unary((cb) => swarm.Update(req, cb), ctx.signal);
    ctx.out('Swarm updated.\n');
  });
};
