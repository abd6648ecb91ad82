// The container shim: one small process per running container, started by the
// daemon in its own session so that the daemon's death does not touch it.
//
//   node packages/engine/dist/shim/main.js --dir <state dir>
//   node packages/engine/dist/shim/main.js --standby
//
// A standby shim (see pool.ts) is started ahead of time so that Node's own
// boot (50-80 ms) is not on the container's start path: it reports
// `{"standby":true}` on fd 3, then blocks reading one `ShimAssignment` line
// from fd 3 (a socketpair: the daemon writes to it too) and carries on as
// `--dir <assignment.dir>`. End of file instead (the pool was closed, or the
// daemon died) ends it at once, having touched nothing.
//
// It reads `<dir>/shim.json` (a ShimConfig), runs `runc run` in the foreground
// as its child (runc stays the container's parent and exits with its status),
// logs the output, serves attach clients on `<dir>/shim.sock`, and records the
// exit in `<dir>/exit.json`. See protocol.ts for the files and wire formats.
//
// Imports stay minimal (node built-ins and the log writer, no gRPC, no pino):
// one of these runs per container, so start-up time and RSS matter.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  watch,
  writeFileSync,
  writeSync,
  type FSWatcher,
} from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { constants } from 'node:os';
import { join } from 'node:path';
import { JsonFileWriter } from '../logs/json-file-writer.js';
import { formatTimeNs, nowNs, type LogStream } from '../logs/log-config.js';
import {
  encodeFrame,
  FrameDecoder,
  FrameType,
  SHIM_FILES,
  STANDBY_ARG,
  startFailureExitCode,
  type AttachRequest,
  type ExitStatus,
  type ShimAssignment,
  type ShimConfig,
  type ShimReport,
} from './protocol.js';

/** A client that stops reading is dropped rather than growing the shim without bound. */
const MAX_CLIENT_BACKLOG = 8 * 1024 * 1024;
/** How long output may keep flowing after runc exited (a grandchild holding the pipe). */
const DRAIN_AFTER_EXIT_MS = 2000;
const REPORT_FD = 3;

interface Client {
  sock: Socket;
  req: AttachRequest;
}

/**
 * Where the shim's own diagnostics go: stderr, which is `<dir>/shim.log` for a
 * shim started with `--dir`; a standby shim's stderr was chosen before it had
 * a directory, so on assignment it opens `<dir>/shim.log` itself.
 */
let diagFd = 2;
function diag(msg: string): void {
  try {
    writeSync(diagFd, msg);
  } catch {
    // nowhere left to say it
  }
}

function parseArgs(argv: string[]): { dir: string } | { standby: true } {
  if (argv.includes(STANDBY_ARG)) return { standby: true };
  const i = argv.indexOf('--dir');
  const dir = i >= 0 ? argv[i + 1] : undefined;
  if (!dir) {
    diag(`usage: shim --dir <state dir> | ${STANDBY_ARG} (the directory must hold shim.json)\n`);
    process.exit(2);
  }
  return { dir };
}

/**
 * Standby: says so on fd 3, then waits for the assignment and returns its
 * directory; exits when fd 3 closes first. Nothing else runs meanwhile, so a
 * blocking read(2) is the cheapest wait: no event loop, no timers, no CPU.
 */
function awaitAssignment(): string {
  try {
    writeSync(REPORT_FD, `${JSON.stringify({ standby: true } satisfies ShimReport)}\n`);
  } catch {
    process.exit(0); // the pool is gone already
  }
  const chunk = Buffer.allocUnsafe(4096);
  let line = Buffer.alloc(0);
  for (;;) {
    let n = 0;
    try {
      n = readSync(REPORT_FD, chunk, 0, chunk.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EINTR') continue;
      if (code === 'EAGAIN') {
        // A non-blocking fd 3 (not how the pool makes it): poll gently.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        continue;
      }
    }
    if (n <= 0) process.exit(0);
    line = Buffer.concat([line, chunk.subarray(0, n)]);
    const nl = line.indexOf(0x0a);
    if (nl < 0) {
      if (line.length > 65536) process.exit(2);
      continue;
    }
    const a = JSON.parse(line.subarray(0, nl).toString('utf8')) as Partial<ShimAssignment>;
    if (typeof a.dir !== 'string' || !a.dir) {
      diag('shim: the standby assignment names no directory\n');
      process.exit(2);
    }
    return a.dir;
  }
}

/** Writes via a temp file and rename, so readers never see half a file; `durable` also fsyncs first. */
function writeFileAtomic(path: string, data: string, durable: boolean): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeFileSync(fd, data);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

let reportOpen = true;
function report(r: ShimReport, last: boolean): void {
  if (!reportOpen) return;
  try {
    writeSync(REPORT_FD, `${JSON.stringify(r)}\n`);
  } catch {
    // The daemon went away before reading; the exit file still tells the story.
  }
  if (last) {
    reportOpen = false;
    try {
      closeSync(REPORT_FD);
    } catch {
      // not inherited (run by hand)
    }
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The last error runc logged, without its "runc run failed: " prefix. */
function runcError(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return 'runc exited before starting the container and left no log';
  }
  let msg = '';
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === 'error' || entry.level === 'fatal') msg = entry.msg ?? msg;
    } catch {
      msg = line;
    }
  }
  return (msg || 'runc exited before starting the container').replace(/^runc (run|create) failed: /, '');
}

function readOomKills(dirs: string[]): boolean {
  for (const dir of dirs) {
    for (const file of ['memory.events', 'memory.oom_control']) {
      try {
        const m = /^oom_kill (\d+)$/m.exec(readFileSync(join(dir, file), 'utf8'));
        if (m && Number(m[1]) > 0) return true;
      } catch {
        // the other cgroup version's file, or the cgroup is gone
      }
    }
  }
  return false;
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function run(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: 'ignore' });
    p.on('error', () => resolve(-1));
    p.on('close', (code) => resolve(code ?? -1));
  });
}

async function main(dir: string, standby: boolean): Promise<void> {
  const path = (name: string): string => join(dir, name);
  // Detached already; these must not end the container's only parent.
  for (const sig of ['SIGINT', 'SIGHUP', 'SIGPIPE', 'SIGTERM'] as const) process.on(sig, () => undefined);

  if (standby) {
    diagFd = openSync(path(SHIM_FILES.shimLog), 'a', 0o640);
    // The working directory is the daemon's proof that the pid in shim.pid is
    // this shim (isShimAlive), since a standby's command line cannot name the
    // dir; so it must be the dir before shim.pid names this process. (A shim
    // started with --dir has it as its working directory from the start.)
    process.chdir(dir);
  }
  const cfg = JSON.parse(readFileSync(path(SHIM_FILES.config), 'utf8')) as ShimConfig;

  // No fsync: it is on the start path (milliseconds on a busy disk), and after
  // a host crash no shim is left for the pid to name anyway.
  writeFileAtomic(path(SHIM_FILES.pid), `${process.pid}\n`, false);
  rmSync(path(SHIM_FILES.exit), { force: true });
  rmSync(path(SHIM_FILES.initPid), { force: true });

  const logger =
    cfg.log.driver === 'json-file'
      ? new JsonFileWriter(cfg.log.path, { maxSize: cfg.log.maxSize, maxFile: cfg.log.maxFile })
      : undefined;

  const clients = new Set<Client>();
  // Set once each; closures below read them.
  const state: { exit?: ExitStatus; child?: ChildProcess } = {};
  let stdinClosed = !cfg.openStdin;
  let stdinOnceUsed = false;
  let firstAttach: (() => void) | undefined;

  const closeStdin = (): void => {
    if (stdinClosed) return;
    stdinClosed = true;
    // With a tty, runc owns the pty: an EOT through it is the terminal's EOF.
    if (cfg.tty) state.child?.stdin?.write('\x04');
    else state.child?.stdin?.end();
  };

  const broadcast = (type: FrameType, data: Buffer): void => {
    let frame: Buffer | undefined;
    for (const c of clients) {
      if (type === FrameType.Stdout ? !c.req.stdout : !c.req.stderr) continue;
      frame ??= encodeFrame(type, data);
      if (c.sock.writableLength > MAX_CLIENT_BACKLOG) c.sock.destroy();
      else c.sock.write(frame);
    }
  };

  const sendExit = (c: Client, st: ExitStatus): void => {
    c.sock.end(encodeFrame(FrameType.Exit, JSON.stringify(st)));
  };

  const onClient = (sock: Socket): void => {
    let header = Buffer.alloc(0);
    let client: Client | undefined;
    const decoder = new FrameDecoder();
    sock.on('error', () => undefined);
    sock.on('data', (chunk: Buffer) => {
      if (!client) {
        header = Buffer.concat([header, chunk]);
        const nl = header.indexOf(0x0a);
        if (nl < 0) {
          if (header.length > 4096) sock.destroy();
          return;
        }
        let req: AttachRequest;
        try {
          const r = JSON.parse(header.subarray(0, nl).toString('utf8')) as Partial<AttachRequest>;
          req = { stdin: r.stdin === true, stdout: r.stdout === true, stderr: r.stderr === true };
        } catch {
          sock.destroy();
          return;
        }
        client = { sock, req };
        chunk = header.subarray(nl + 1);
        if (state.exit) {
          sendExit(client, state.exit);
          return;
        }
        clients.add(client);
        firstAttach?.();
      }
      for (const f of decoder.push(chunk)) {
        if (f.type === FrameType.Stdin && client.req.stdin && !stdinClosed) state.child?.stdin?.write(f.payload);
        else if (f.type === FrameType.CloseStdin && client.req.stdin) closeStdin();
        // Resize is accepted and ignored: foreground runc sizes the pty from its own host console.
      }
    });
    sock.on('close', () => {
      if (!client) return;
      clients.delete(client);
      if (cfg.stdinOnce && client.req.stdin && !stdinOnceUsed) {
        stdinOnceUsed = true;
        closeStdin();
      }
    });
  };

  const server = createServer(onClient);
  server.on('error', (err) => diag(`shim: attach socket: ${err.message}\n`));
  rmSync(path(SHIM_FILES.socket), { force: true });
  // Relative to the working directory (the state dir): an absolute path can
  // exceed the 108 bytes of sun_path, which would silently truncate it.
  await new Promise<void>((resolve) => server.listen(SHIM_FILES.socket, resolve));
  report({ listening: true }, false);

  if (cfg.waitAttachMs && cfg.waitAttachMs > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, cfg.waitAttachMs);
      firstAttach = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    firstAttach = undefined;
  }

  const keep = cfg.oomCgroupDirs.length > 0;
  const runcArgs = [
    '--root', cfg.runtimeRoot,
    '--log', path(SHIM_FILES.runcLog),
    '--log-format', 'json',
    'run', '--bundle', cfg.bundle,
    '--pid-file', path(SHIM_FILES.initPid),
    ...(keep ? ['--keep'] : []),
    cfg.id,
  ];
  // Foreground runc with a terminal insists on a host console of its own; the
  // shim has none (it is detached), so script(1) lends runc a pty whose raw
  // output is the container's terminal stream.
  const [cmd, args] = cfg.tty
    ? ['script', ['-qefE', 'never', '-c', [cfg.runtime, ...runcArgs].map(shellQuote).join(' '), '/dev/null']]
    : [cfg.runtime, runcArgs];
  const child = spawn(cmd, args, {
    stdio: [cfg.openStdin || cfg.tty ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: cfg.tty ? { ...process.env, SHELL: '/bin/sh' } : process.env,
  });
  state.child = child;
  child.stdin?.on('error', () => undefined);

  let started = false;
  let watcher: FSWatcher | undefined;
  const stopWatching = (): void => {
    watcher?.close();
    clearInterval(poll);
  };
  const checkStarted = (): boolean => {
    if (started) return true;
    const pid = readPid(path(SHIM_FILES.initPid));
    if (pid === undefined) return false;
    started = true;
    stopWatching();
    report({ started: true, pid }, true);
    return true;
  };
  try {
    watcher = watch(dir, (_ev, name) => {
      if (name === SHIM_FILES.initPid) checkStarted();
    });
  } catch {
    // inotify exhausted: the poll below still finds it
  }
  const poll = setInterval(checkStarted, 20);

  const onOutput = (stream: LogStream, type: FrameType) => (chunk: Buffer) => {
    try {
      logger?.write(stream, chunk, nowNs());
    } catch (err) {
      diag(`shim: log write failed: ${(err as Error).message}\n`);
    }
    broadcast(type, chunk);
  };
  child.stdout?.on('data', onOutput('stdout', FrameType.Stdout));
  child.stderr?.on('data', onOutput('stderr', FrameType.Stderr));

  let spawnError: Error | undefined;
  child.on('error', (err) => {
    spawnError = err;
  });

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', () => resolve({ code: null, signal: null }));
  });
  const closed = new Promise<void>((resolve) => {
    child.on('close', () => resolve());
    child.on('error', () => resolve());
  });

  const { code, signal } = await exited;
  const exitedAt = formatTimeNs(nowNs());
  await Promise.race([closed, new Promise((r) => setTimeout(r, DRAIN_AFTER_EXIT_MS))]);
  stopWatching();

  let status: ExitStatus;
  if (checkStarted()) {
    const exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
    status = { exitCode, oomKilled: readOomKills(cfg.oomCgroupDirs), exitedAt };
  } else {
    const error = spawnError
      ? `cannot run the container runtime ${cfg.runtime}: ${spawnError.message}`
      : runcError(path(SHIM_FILES.runcLog));
    const exitCode = spawnError ? 125 : startFailureExitCode(error);
    report({ started: false, error, exitCode }, true);
    status = { exitCode, oomKilled: false, exitedAt, error };
  }

  try {
    logger?.close();
  } catch (err) {
    diag(`shim: log close failed: ${(err as Error).message}\n`);
  }
  writeFileAtomic(path(SHIM_FILES.exit), JSON.stringify(status), true);
  if (keep && !spawnError) await run(cfg.runtime, ['--root', cfg.runtimeRoot, 'delete', '--force', cfg.id]);
  // Only now may waiters learn of the exit: a daemon that restarts the
  // container under the same id must not race this `runc delete`.
  state.exit = status;

  const gone = [...clients].map((c) => new Promise<void>((resolve) => {
    c.sock.once('close', () => resolve());
    sendExit(c, status);
  }));
  clients.clear();
  server.close();
  await Promise.race([Promise.all(gone), new Promise((r) => setTimeout(r, 1000))]);
  process.exit(0);
}

const args = parseArgs(process.argv);
const dir = 'standby' in args ? awaitAssignment() : args.dir;
main(dir, 'standby' in args).catch((err: unknown) => {
  diag(`shim: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
