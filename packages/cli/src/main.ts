// `shoal`: the entry point. `main(argv, io)` runs one command and resolves
// with the process exit code, so tests can drive the CLI in-process; the
// process entry at the bottom only wires real stdio and exits.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command, CommanderError } from 'commander';
import { ExitError, UsageError } from './cli-error.js';
import type { Clients } from './client/connect.js';
import type { Context, Handler } from './context.js';
import type { CliIO } from './io.js';
import { buildProgram } from './program.js';
import { CLIENT_VERSION } from './version.js';

export const DEFAULT_HOST = 'unix:///run/shoal/shoald.sock';

/** "shoal container run" for a commander command. */
function commandPath(cmd: Command | undefined): string {
  const names: string[] = [];
  for (let c: Command | null | undefined = cmd; c; c = c.parent) names.unshift(c.name());
  return names.length > 0 ? names.join(' ') : 'shoal';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Rewrites commander's parse errors in docker's words. */
function usageFromCommander(err: CommanderError, cmd: Command | undefined): UsageError {
  const path = commandPath(cmd);
  const q = /'([^']*)'/.exec(err.message)?.[1] ?? '';
  let msg: string;
  switch (err.code) {
    case 'commander.unknownOption':
      msg = `unknown ${q.startsWith('--') ? 'flag' : 'shorthand flag'}: ${q.startsWith('--') ? q : `'${q.replace(/^-/, '').charAt(0)}' in ${q}`}`;
      break;
    case 'commander.optionMissingArgument':
      msg = `flag needs an argument: ${q.split(/[ ,]+/).pop() ?? q}`;
      break;
    case 'commander.missingArgument':
    case 'commander.excessArguments': {
      const reg = cmd?.registeredArguments ?? [];
      const required = reg.filter((a) => a.required).length;
      const variadic = reg.some((a) => a.variadic);
      const optional = reg.length - required;
      let need: string;
      if (variadic && required > 0) need = `at least ${plural(required, 'argument')}`;
      else if (optional === 0) need = `exactly ${plural(required, 'argument')}`;
      else if (required === 0) need = `at most ${plural(reg.length, 'argument')}`;
      else need = `at least ${plural(required, 'argument')} and at most ${plural(reg.length, 'argument')}`;
      if (reg.length === 0) need = 'no arguments';
      msg = `"${path.replace(/^shoal /, 'shoal ')}" ${reg.length === 0 ? 'accepts' : 'requires'} ${need}.`;
      return new UsageError(msg, path);
    }
    case 'commander.unknownCommand':
      return new UsageError(`'${q}' is not a shoal command.`, 'shoal');
    default:
      msg = err.message.replace(/^error: /, '');
  }
  return new UsageError(msg, path);
}

/** Writes an error the way docker does and returns the exit code. */
function report(err: unknown, io: CliIO, host: string, cmd: Command | undefined): number {
  const e = err as { name?: string; code?: unknown; message?: string; exitCode?: number };
  if (err instanceof UsageError) {
    const path = err.commandPath ?? commandPath(cmd);
    io.stderr.write(`shoal: ${err.message}\nSee '${path} --help'.\n`);
    return err.exitCode;
  }
  if (err instanceof ExitError) {
    if (err.message !== '') io.stderr.write(`${err.message}\n`);
    return err.exitCode;
  }
  if (e.name === 'TemplateError') {
    io.stderr.write(`template parsing error: ${e.message ?? ''}\n`);
    return 125;
  }
  if (e.name === 'ShoalError') {
    const message = e.message ?? '';
    if (e.code === 'Unavailable' && message.startsWith('cannot reach the Shoal daemon')) {
      io.stderr.write(`Cannot connect to the Shoal daemon at ${host}. Is the shoald daemon running?\n`);
      return 125;
    }
    io.stderr.write(`Error response from daemon: ${message}\n`);
    return typeof e.exitCode === 'number' ? e.exitCode : 125;
  }
  if (e.code === 'EPIPE') return 0;
  io.stderr.write(`shoal: ${e.message ?? String(err)}\n`);
  return 125;
}

/**
 * Runs the CLI with `argv` (without "node" and the script) and resolves with the exit code.
 * Never throws: every error is printed to `io.stderr` in docker's words.
 */
export async function main(argv: string[], io: CliIO): Promise<number> {
  let exitCode = 0;
  let clients: Clients | undefined;
  let failedCmd: Command | undefined;
  let host = io.env.SHOAL_HOST || DEFAULT_HOST;
  const ctl = new AbortController();

  const program = buildProgram({
    argv,
    writeOut: (s) => io.stdout.write(s),
    writeErr: (s) => io.stderr.write(s),
    dispatch: async (cmd, load, args, opts) => {
      failedCmd = cmd;
      const globals = program.opts<{ host?: string }>();
      if (globals.host !== undefined) host = globals.host;
      const ctx: Context = {
        io,
        host,
        signal: ctl.signal,
        clients: async () => {
          if (!clients) clients = (await import('./client/connect.js')).connect(host);
          return clients;
        },
        out: (s) => io.stdout.write(s),
        err: (s) => io.stderr.write(s),
      };
      const handler: Handler = await load();
      const code = await handler(ctx, args, opts);
      exitCode = code ?? 0;
    },
  });
  // Remember which command failed to parse, for the "See 'shoal X --help'." hint.
  const track = (c: Command): void => {
    c.exitOverride((err) => {
      failedCmd = c;
      throw err;
    });
    c.commands.forEach(track);
  };
  track(program);

  try {
    if (argv.length === 0) {
      io.stdout.write(program.helpInformation());
      return 0;
    }
    if (argv[0] === '-v' || argv[0] === '--version') {
      io.stdout.write(`Shoal version ${CLIENT_VERSION}\n`);
      return 0;
    }
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    const ce = err as CommanderError;
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) {
      if (ce.exitCode === 0 || ce.code === 'commander.helpDisplayed' || ce.code === 'commander.help') return 0;
      if (ce.code === 'commander.executeSubCommandAsync') return 0;
      return report(usageFromCommander(ce, failedCmd), io, host, failedCmd);
    }
    return report(err, io, host, failedCmd);
  } finally {
    ctl.abort();
    clients?.close();
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/**
 * The process entry: runs `main` on the real argv and stdio, then exits with
 * its code. Exported for the bundle's launcher (scripts/bundle.mjs), which
 * runs this module from a code-cached CommonJS file, not as the entry script.
 */
export async function runProcess(): Promise<never> {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  const code = await main(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
  });
  process.exit(code);
}

// No top-level await: the bundle is CommonJS (V8 can code-cache only that on Node 20).
if (isEntryPoint()) void runProcess();
