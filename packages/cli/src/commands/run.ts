// run, create, start, attach, exec: the commands that create or attach to processes.
import { fromServiceError, type AttachRequest, type ExecRequest, type ShoalError } from '@shoal/api';
import { ExitError } from '../cli-error.js';
import { unary } from '../client/connect.js';
import type { Context, Handler } from '../context.js';
import { readKeyValueFile, resolveEnvFlag } from '../parse/env-file.js';
import { buildCreateRequest, type RunFlags } from '../run/spec.js';
import { parseDetachKeys, runSession, type FrameCall, type SessionResult } from '../terminal/session.js';
import { forEach } from './shared.js';

/**
 * docker's exit code for a failed start: 127 when the command does not exist,
 * 126 when it cannot be executed, else 125.
 */
export function startFailureCode(message: string): number {
  const m = message.toLowerCase();
  if (m.includes('executable file not found') || m.includes('no such file or directory')) return 127;
  if (m.includes('permission denied')) return 126;
  return 125;
}

/** Converts a start/attach failure to a ShoalError carrying docker's exit code. */
function startError(err: unknown): ShoalError {
  const e = fromServiceError(err);
  const withCode = e as ShoalError & { exitCode?: number };
  withCode.exitCode = e.code === 'FailedPrecondition' || e.code === 'Unknown' ? startFailureCode(e.message) : 125;
  return e;
}

function checkTty(ctx: Context, interactive: boolean, tty: boolean): void {
  if (interactive && tty && !ctx.io.stdin.isTTY) throw new ExitError(1, 'the input device is not a TTY');
}

const attachRequests = {
  stdin: (data: Buffer): AttachRequest => ({ stdin: data }),
  closeStdin: (): AttachRequest => ({ close_stdin: true }),
  resize: (size: { rows?: number; cols?: number }): AttachRequest => ({ resize: size }),
};

const execRequests = {
  stdin: (data: Buffer): ExecRequest => ({ stdin: data }),
  closeStdin: (): ExecRequest => ({ close_stdin: true }),
  resize: (size: { rows?: number; cols?: number }): ExecRequest => ({ resize: size }),
};

interface AttachOptions {
  id: string;
  tty: boolean;
  stdin: boolean;
  start: boolean;
  logs: boolean;
  detachKeys?: string;
}

/** Attaches to a container (starting it when asked) and resolves with the session's outcome. */
async function attachTo(ctx: Context, o: AttachOptions): Promise<SessionResult> {
  const detachKeys = parseDetachKeys(o.detachKeys);
  const { containers } = await ctx.clients();
  const call = containers.Attach();
  call.write({
    header: {
      id: o.id,
      stdin: o.stdin,
      stdout: true,
      stderr: true,
      logs: o.logs,
      start: o.start,
      detach_keys: o.detachKeys ?? '',
    },
  });
  try {
    const res = await runSession(call as unknown as FrameCall<AttachRequest>, {
      io: ctx.io,
      tty: o.tty,
      stdin: o.stdin,
      detachKeys,
      request: attachRequests,
    });
    if (res.detached) ctx.err('read escape sequence\n');
    return res;
  } catch (err) {
    throw startError(err);
  }
}

/** The exit code of a finished session; without an EXIT frame, asks the daemon. */
async function sessionCode(ctx: Context, id: string, res: SessionResult): Promise<number> {
  if (res.detached) return 0;
  if (res.exitCode !== undefined) return res.exitCode;
  const { containers } = await ctx.clients();
  try {
    const w = await unary<{ status_code: number }>((cb) => containers.Wait({ id, condition: 'not-running' }, cb));
    return w.status_code;
  } catch {
    return 125;
  }
}

async function createContainer(ctx: Context, args: string[], flags: RunFlags): Promise<string> {
  const [image = '', ...command] = args;
  if (flags.network === undefined && (flags as { net?: string }).net !== undefined) flags.network = (flags as { net?: string }).net;
  const req = buildCreateRequest(image, command, flags, ctx.io.env);
  const { containers } = await ctx.clients();
  const res = await unary<{ id: string; warnings: string[] }>((cb) => containers.Create(req, cb), ctx.signal);
  for (const w of res.warnings) ctx.err(`WARNING: ${w}\n`);
  return res.id;
}

export const create: Handler = async (ctx, args, opts) => {
  const id = await createContainer(ctx, args, opts);
  ctx.out(`${id}\n`);
};

export const run: Handler = async (ctx, args, opts) => {
  const flags = opts as RunFlags & { detachKeys?: string };
  if (!flags.detach) checkTty(ctx, Boolean(flags.interactive), Boolean(flags.tty));
  const id = await createContainer(ctx, args, flags);
  if (flags.detach) {
    const { containers } = await ctx.clients();
    try {
      await unary((cb) => containers.Start({ id }, cb));
    } catch (err) {
      throw startError(err);
    }
    ctx.out(`${id}\n`);
    return 0;
  }
  const res = await attachTo(ctx, {
    id,
    tty: Boolean(flags.tty),
    stdin: Boolean(flags.interactive),
    start: true,
    logs: false,
    ...(flags.detachKeys === undefined ? {} : { detachKeys: flags.detachKeys }),
  });
  return sessionCode(ctx, id, res);
};

async function containerTty(ctx: Context, id: string): Promise<boolean> {
  const { containers } = await ctx.clients();
  const res = await unary<{ json: string }>((cb) => containers.Inspect({ id, size: false }, cb));
  const obj = JSON.parse(res.json) as { Config?: { Tty?: boolean } };
  return obj.Config?.Tty === true;
}

export const start: Handler = async (ctx, args, opts) => {
  const attach = Boolean(opts.attach) || Boolean(opts.interactive);
  if (!attach) {
    const { containers } = await ctx.clients();
    return forEach(ctx, args, async (id) => {
      try {
        await unary((cb) => containers.Start({ id }, cb));
      } catch (err) {
        throw startError(err);
      }
      ctx.out(`${id}\n`);
    });
  }
  if (args.length > 1) throw new ExitError(1, 'you cannot start and attach multiple containers at once');
  const id = args[0] ?? '';
  const tty = await containerTty(ctx, id);
  checkTty(ctx, Boolean(opts.interactive), tty);
  const res = await attachTo(ctx, {
    id,
    tty,
    stdin: Boolean(opts.interactive),
    start: true,
    logs: false,
    ...(opts.detachKeys === undefined ? {} : { detachKeys: opts.detachKeys as string }),
  });
  return sessionCode(ctx, id, res);
};

export const attach: Handler = async (ctx, args, opts) => {
  const id = args[0] ?? '';
  const tty = await containerTty(ctx, id);
  const stdin = opts.stdin !== false;
  checkTty(ctx, stdin, tty);
  const res = await attachTo(ctx, {
    id,
    tty,
    stdin,
    start: false,
    logs: false,
    ...(opts.detachKeys === undefined ? {} : { detachKeys: opts.detachKeys as string }),
  });
  return sessionCode(ctx, id, res);
};

export const exec: Handler = async (ctx, args, opts) => {
  const [id = '', ...cmd] = args;
  const detach = Boolean(opts.detach);
  const tty = Boolean(opts.tty);
  const interactive = Boolean(opts.interactive);
  if (!detach) checkTty(ctx, interactive, tty);
  const env: string[] = [];
  for (const f of (opts.envFile as string[] | undefined) ?? []) env.push(...readKeyValueFile(f, ctx.io.env));
  for (const e of (opts.env as string[] | undefined) ?? []) {
    const r = resolveEnvFlag(e, ctx.io.env);
    if (r !== undefined) env.push(r);
  }
  const detachKeys = parseDetachKeys(opts.detachKeys as string | undefined);
  const { containers } = await ctx.clients();
  const call = containers.Exec();
  call.write({
    config: {
      id,
      cmd,
      env,
      user: (opts.user as string | undefined) ?? '',
      working_dir: (opts.workdir as string | undefined) ?? '',
      tty,
      attach_stdin: interactive && !detach,
      detach,
      privileged: Boolean(opts.privileged),
    },
  });
  try {
    const res = await runSession(call as unknown as FrameCall<ExecRequest>, {
      io: ctx.io,
      tty,
      stdin: interactive && !detach,
      detachKeys,
      request: execRequests,
    });
    if (res.detached) {
      ctx.err('read escape sequence\n');
      return 0;
    }
    return detach ? 0 : (res.exitCode ?? 0);
  } catch (err) {
    throw startError(err);
  }
};
