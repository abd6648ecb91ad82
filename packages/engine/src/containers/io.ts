import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import {
  errorMessage,
  failedPrecondition,
  invalidArgument,
  isNotFound,
  notFound,
  sleep,
  type AttachHeader__Output,
  type CommitRequest__Output,
  type ContainerStats,
  type ContainerSummary,
  type ExecConfig__Output,
  type Filter__Output,
  type ListContainersRequest__Output,
  type LogsRequest__Output,
} from '@shoal/api';
import { resolveUser } from '../runtime/user.js';
import { secureJoin } from '../runtime/secure-join.js';
import { extractInto } from '../archive/apply-layer.js';
import { readLogs } from '../logs/json-file-reader.js';
import { formatTimeNs } from '../logs/log-config.js';
import type { ImagePort } from './ports.js';
import type { ContainerRecord } from './record.js';
import type { RuncRuntime } from './runc-runtime.js';
import { mergeEnv, type ContainerService } from './service.js';
import { CONTAINER_FILTER_KEYS, containerFilter, inspectDocument, summary } from './views.js';

/** One frame of process output, or the exit. */
export interface IoFrame {
  stream: 'STDOUT' | 'STDERR' | 'EXIT' | 'SYSTEM';
  data: Buffer;
  timeNs: bigint;
  exitCode?: number;
}

export interface IoSession {
  output: AsyncIterable<IoFrame>;
  stdin?: { write(d: Buffer): void; close(): void; resize(rows: number, cols: number): void };
}

const now = (): bigint => BigInt(Date.now()) * 1_000_000n;

/**
 * Everything about containers that streams bytes: logs, attach, exec, copy,
 * export, stats; and the read-side views (list, inspect).
 */
export class ContainerIO {
  constructor(
    private readonly containers: ContainerService,
    private readonly runtime: RuncRuntime,
    private readonly images: ImagePort & { resolveId(ref: string): string | undefined },
    private readonly publish: (rec: ContainerRecord, action: string, extra?: Record<string, string>) => void,
  ) {}

  /** docker ps. Throws InvalidArgument for an unknown filter key. */
  async list(req: ListContainersRequest__Output): Promise<ContainerSummary[]> {
    for (const f of req.filters) {
      if (!CONTAINER_FILTER_KEYS.includes(f.key)) throw invalidArgument(`invalid filter '${f.key}'; use one of ${CONTAINER_FILTER_KEYS.join(', ')}`);
      if (f.key === 'name') {
        try {
          new RegExp(f.value);
        } catch {
          throw invalidArgument(`invalid filter 'name=${f.value}': not a valid regular expression`);
        }
      }
    }
    const match = containerFilter(req.filters, (ref) => this.images.resolveId(ref));
    let recs = this.containers.list();
    if (!req.all && req.limit <= 0) recs = recs.filter((r) => r.state.status === 'running' || r.state.status === 'paused' || r.state.status === 'restarting');
    recs = recs.filter(match);
    recs = this.beforeSince(recs, req.filters);
    if (req.limit > 0) recs = recs.slice(0, req.limit);
    const out: ContainerSummary[] = [];
    for (const r of recs) out.push(summary(r, this.containers.views(r), req.size ? await this.containers.sizeRw(r) : undefined));
    return out;
  }

  private beforeSince(recs: ContainerRecord[], filters: Filter__Output[]): ContainerRecord[] {
    for (const f of filters) {
      if (f.key !== 'before' && f.key !== 'since') continue;
      const other = this.containers.get(f.value);
      recs = recs.filter((r) => (f.key === 'before' ? r.created < other.created : r.created > other.created));
    }
    return recs;
  }

  async inspect(ref: string, size: boolean): Promise<Record<string, unknown>> {
    const rec = this.containers.get(ref);
    return inspectDocument(rec, this.containers.views(rec), {
      ...(size ? { sizeRw: await this.containers.sizeRw(rec) } : {}),
      rootfs: this.containers.rootfsPath(rec),
    });
  }

  /** docker logs. Throws NotFound for an unknown container. */
  async *logs(req: LogsRequest__Output, signal: AbortSignal): AsyncGenerator<IoFrame> {
    const rec = this.containers.get(req.id);
    if (rec.spec.log_config?.type === 'none') {
      throw failedPrecondition('configured logging driver does not support reading; the container was created with --log-driver none');
    }
    if (!(await this.containers.hasLogs(rec))) return;
    const tail = req.tail === '' || req.tail === 'all' ? 'all' : Number(req.tail);
    if (tail !== 'all' && (!Number.isInteger(tail) || tail < 0)) throw invalidArgument(`invalid --tail value "${req.tail}"; use a number or "all"`);
    const isUp = (): boolean => ['running', 'paused', 'restarting'].includes(rec.state.status) && this.containers.list().includes(rec);
    const both = !req.stdout && !req.stderr;
    for await (const line of readLogs(
      rec.logPath,
      {
        tail,
        ...(req.since !== '0' && req.since !== '' ? { since: BigInt(req.since) } : {}),
        ...(req.until !== '0' && req.until !== '' ? { until: BigInt(req.until) } : {}),
        follow: req.follow && isUp(),
        stdout: both || req.stdout,
        stderr: both || req.stderr,
        stopWhen: () => !isUp(),
      },
      signal,
    )) {
      // docker logs -t: the daemon prefixes each line with its RFC 3339 time.
      const data = req.timestamps ? Buffer.concat([Buffer.from(`${formatTimeNs(line.time)} `), line.line]) : line.line;
      yield { stream: line.stream === 'stderr' ? 'STDERR' : 'STDOUT', data, timeNs: line.time };
    }
  }

  /**
   * docker attach / start -a / run: with `start`, the container is started
   * after the attachment is in place, so no output is missed.
   */
  async attach(h: AttachHeader__Output, signal: AbortSignal): Promise<IoSession> {
    const rec = this.containers.get(h.id);
    const req = { stdin: h.stdin && rec.spec.open_stdin, stdout: h.stdout, stderr: h.stderr };
    let attachment;
    if (h.start && rec.state.status !== 'running' && rec.state.status !== 'paused') {
      await this.containers.start(rec.id, req);
      attachment = this.runtime.takeStartAttachment(rec);
    }
    if (!attachment) {
      if (rec.state.status !== 'running' && rec.state.status !== 'paused') {
        throw failedPrecondition('You cannot attach to a stopped container, start it first');
      }
      attachment = await this.runtime.attach(rec, req, signal);
    }
    const a = attachment;
    signal.addEventListener('abort', () => a.close(), { once: true });
    const containers = this.containers;
    const output = (async function* (): AsyncGenerator<IoFrame> {
      for await (const f of a) {
        if (f.type === 'exit') {
          // Let the engine record the exit (and remove an --rm container) before the client hears of it.
          await containers.wait(rec.id, rec.spec.auto_remove ? 'removed' : 'not-running', signal).catch(() => undefined);
          yield { stream: 'EXIT', data: Buffer.alloc(0), timeNs: now(), exitCode: f.status.exitCode };
          return;
        }
        yield { stream: f.type === 'stderr' ? 'STDERR' : 'STDOUT', data: f.data, timeNs: now() };
      }
    })();
    return {
      output,
      ...(req.stdin ? { stdin: { write: (d: Buffer) => a.writeStdin(d), close: () => a.closeStdin(), resize: (r: number, c: number) => a.resize(r, c) } } : {}),
    };
  }

  /** docker exec. Throws FailedPrecondition when the container is not running. */
  async exec(cfg: ExecConfig__Output, signal: AbortSignal): Promise<IoSession> {
    const rec = this.containers.get(cfg.id);
    if (rec.state.status === 'paused') throw failedPrecondition(`Container ${rec.id} is paused, unpause the container before exec`);
    if (rec.state.status !== 'running') throw failedPrecondition(`Container ${rec.id} is not running`);
    if (cfg.cmd.length === 0) throw invalidArgument('exec needs a command; give it after the container name');
    const rootfs = this.containers.rootfsPath(rec);
    const user = await resolveUser(rootfs, cfg.user || rec.config.user);
    const env = mergeEnv(rec.config.env, cfg.env);
    const proc = await this.runtime.exec(
      rec,
      { args: cfg.cmd, env, user, cwd: cfg.working_dir || rec.config.workingDir, tty: cfg.tty, stdin: cfg.attach_stdin, detach: cfg.detach, privileged: cfg.privileged },
      signal,
    );
    this.publish(rec, `exec_start: ${cfg.cmd.join(' ')}`);
    const publish = this.publish;
    const output = (async function* (): AsyncGenerator<IoFrame> {
      if (cfg.detach) {
        const code = await proc.exit;
        if (code !== 0) throw failedPrecondition(`exec failed to start (exit code ${code})`);
        return;
      }
      const queue: IoFrame[] = [];
      let wake: (() => void) | undefined;
      let open = 2;
      const push = (f: IoFrame): void => {
        queue.push(f);
        wake?.();
      };
      for (const [s, name] of [[proc.stdout, 'STDOUT'], [proc.stderr, 'STDERR']] as const) {
        s.on('data', (d: Buffer) => push({ stream: name, data: d, timeNs: now() }));
        s.on('end', () => {
          open--;
          wake?.();
        });
        s.on('error', () => {
          open--;
          wake?.();
        });
      }
      while (open > 0 || queue.length > 0) {
        if (queue.length === 0) {
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
          continue;
        }
        yield queue.shift()!;
      }
      const code = await proc.exit;
      publish(rec, 'exec_die', { exitCode: String(code) });
      yield { stream: 'EXIT', data: Buffer.alloc(0), timeNs: now(), exitCode: code };
    })();
    const stdin = proc.stdin;
    return {
      output,
      ...(stdin ? { stdin: { write: (d: Buffer) => void stdin.write(d), close: () => void stdin.end(), resize: () => undefined } } : {}),
    };
  }

  /** docker top: the host's ps, restricted to the container's processes. */
  async top(ref: string, psArgs: string[]): Promise<{ titles: string[]; processes: { cells: string[] }[] }> {
    const rec = this.containers.get(ref);
    if (rec.state.status !== 'running' && rec.state.status !== 'paused') throw failedPrecondition(`Container ${rec.id} is not running`);
    const pids = new Set(await this.runtime.pids(rec));
    const args = psArgs.length ? psArgs : ['-ef'];
    const out = await run('ps', args);
    const lines = out.split('\n').filter((l) => l.trim() !== '');
    const header = lines.shift() ?? '';
    const titles = header.trim().split(/\s+/);
    const pidCol = titles.indexOf('PID');
    if (pidCol < 0) throw invalidArgument(`Couldn't find PID field in ps output; include a PID column in the ps options`);
    const processes = lines
      .map((l) => {
        const f = l.trim().split(/\s+/);
        // The last column (the command) keeps its spaces.
        const cells = [...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')];
        return { cells };
      })
      .filter((p) => pids.has(Number(p.cells[pidCol])));
    return { titles, processes };
  }

  /** docker stats: one sample (CPU % over half a second), or one a second until aborted. */
  async *stats(ref: string, stream: boolean, signal: AbortSignal): AsyncGenerator<ContainerStats> {
    const rec = this.containers.get(ref);
    let prev = rec.state.status === 'running' ? await this.runtime.stats(rec).catch(() => undefined) : undefined;
    do {
      await sleep(stream ? 1000 : 500, signal);
      if (rec.state.status !== 'running' && rec.state.status !== 'paused') {
        yield { id: rec.id, name: rec.name, read: now().toString() };
        if (!stream) return;
        continue;
      }
      const cur = await this.runtime.stats(rec);
      let cpu = 0;
      if (prev) {
        const dCpu = Number(cur.cpuTotalNs - prev.cpuTotalNs);
        const dSys = Number(cur.systemNs - prev.systemNs);
        if (dSys > 0 && dCpu > 0) cpu = (dCpu / dSys) * cur.onlineCpus * 100;
      }
      prev = cur;
      yield {
        id: rec.id,
        name: rec.name,
        read: now().toString(),
        cpu_percent: cpu,
        memory_usage: String(cur.memoryUsage),
        memory_limit: String(cur.memoryLimit),
        memory_percent: cur.memoryLimit > 0 ? (cur.memoryUsage / cur.memoryLimit) * 100 : 0,
        pids: String(cur.pids),
        net_rx: String(cur.netRx),
        net_tx: String(cur.netTx),
        block_read: String(cur.blockRead),
        block_write: String(cur.blockWrite),
      };
    } while (stream && !signal.aborted);
  }

  /** A tar of `path` inside the container (docker cp CONTAINER:PATH). Never follows links out of the rootfs. */
  async copyFrom(ref: string, path: string, signal: AbortSignal): Promise<Readable> {
    const out = new PassThrough();
    let ready!: () => void;
    let fail!: (e: unknown) => void;
    const started = new Promise<void>((res, rej) => ((ready = res), (fail = rej)));
    let streaming = false;
    void this.containers
      .withRootfs(ref, async (rootfs) => {
        const target = await secureJoin(rootfs, path);
        const st = await stat(target).catch(() => undefined);
        if (!st) throw notFound(`Could not find the file ${path} in container ${ref}`);
        const name = path.endsWith('/.') ? '.' : basename(target);
        const child = spawn('tar', ['--numeric-owner', '-C', path.endsWith('/.') ? target : dirname(target), '-cf', '-', name], { signal, stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        // An abort (the client went away) kills tar and is reported here, not thrown.
        child.on('error', (e) => out.destroy(e));
        child.stdout.pipe(out);
        streaming = true;
        ready();
        await new Promise<void>((res, rej) =>
          child.on('close', (code) => (code === 0 || signal.aborted ? res() : rej(new Error(`tar failed: ${err.trim()}`)))),
        );
      })
      .catch((e: unknown) => {
        // Before the tar started, the caller gets the error from `started`;
        // after, from the stream it is reading (which has its listeners then).
        if (!streaming) fail(e);
        else out.destroy(e instanceof Error ? e : new Error(errorMessage(e)));
      });
    await started;
    return out;
  }

  /** Extracts a tar into the directory `path` inside the container (docker cp SRC CONTAINER:PATH). */
  async copyTo(ref: string, path: string, tar: Readable, signal: AbortSignal): Promise<void> {
    await this.containers.withRootfs(ref, async (rootfs) => {
      const target = await secureJoin(rootfs, path);
      const st = await stat(target).catch(() => undefined);
      if (!st) throw notFound(`Could not find the file ${path} in container ${ref}`);
      if (!st.isDirectory()) throw invalidArgument(`extraction point is not a directory: ${path}`);
      await extractInto(tar, target, { signal });
    });
  }

  /** docker export: the container's whole filesystem as a tar. */
  async export(ref: string, _signal: AbortSignal): Promise<Readable> {
    const rec = this.containers.get(ref);
    return this.images.exportContainer(rec.snapshotKey);
  }

  /** docker diff: A/C/D lines of the writable layer. */
  async diff(ref: string): Promise<{ kind: string; path: string }[]> {
    const rec = this.containers.get(ref);
    return this.images.changes(rec.snapshotKey);
  }

  /** docker commit. Pauses a running container for the copy unless told not to. */
  async commit(req: CommitRequest__Output): Promise<string> {
    const rec = this.containers.get(req.id);
    const pause = req.pause && rec.state.status === 'running';
    if (pause) await this.containers.pause(rec.id);
    let id: string;
    try {
      id = await this.images.commit({
        snapshotKey: rec.snapshotKey,
        baseImageId: rec.imageId,
        config: {
          Env: rec.config.env,
          Cmd: rec.config.cmd,
          Entrypoint: rec.config.entrypoint.length ? rec.config.entrypoint : null,
          WorkingDir: rec.config.workingDir === '/' ? '' : rec.config.workingDir,
          User: rec.config.user,
          Labels: rec.config.labels,
          ...(rec.config.stopSignal !== 'SIGTERM' ? { StopSignal: rec.config.stopSignal } : {}),
        },
        changes: req.changes,
        message: req.message,
        author: req.author,
        ...(req.ref ? { ref: req.ref } : {}),
        containerId: rec.id,
      });
    } catch (err) {
      if (pause) await this.unpauseIfPresent(rec.id).catch(() => undefined);
      throw err;
    }
    if (pause) await this.unpauseIfPresent(rec.id);
    this.publish(rec, 'commit');
    return id;
  }

  /** Unpauses after a commit; the container may have been removed meanwhile. */
  private async unpauseIfPresent(id: string): Promise<void> {
    try {
      await this.containers.unpause(id);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  async prune(filters: Filter__Output[]): Promise<{ deleted: string[]; space_reclaimed: string }> {
    for (const f of filters) {
      if (f.key !== 'label' && f.key !== 'until') throw invalidArgument(`invalid filter '${f.key}'; container prune takes label or until`);
    }
    const match = containerFilter(filters.filter((f) => f.key === 'label'), () => undefined);
    const untils = filters.filter((f) => f.key === 'until').map((f) => Date.parse(f.value));
    const { deleted, reclaimed } = await this.containers.prune((r) => match(r) && untils.every((u) => Date.parse(r.created) < u));
    return { deleted, space_reclaimed: String(reclaimed) };
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(invalidArgument(`ps ${args.join(' ')} failed: ${err.trim()}`))));
  });
}
