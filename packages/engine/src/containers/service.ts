import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, writeFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  alreadyExists,
  conflict,
  errorMessage,
  failedPrecondition,
  invalidArgument,
  notFound,
  parseSignal,
  sleep,
  type ContainerSpec__Output,
  type Logger,
  type Resources__Output,
  type RestartPolicy__Output,
} from '@shoal/api';
import type { EventBus } from '../events/bus.js';
import { writeFileAtomic, readJsonIfExists } from '../util/fs.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import { randomName, validateName } from './names.js';
import { rfc3339Nano, ZERO_TIME, type ContainerRecord, type ProcessConfig } from './record.js';
import type { AttachmentViews } from './views.js';
import { restartDelayMs, shouldRestart, validateRestartPolicy } from './restart-policy.js';
import type { AttachStreams, ExitInfo, ImagePort, NetworkPort, ResolvedImage, RuntimePort, SnapshotPort, VolumePort } from './ports.js';

export interface ContainerServiceOptions {
  /** `<data-root>/containers`: one directory per container (config, logs, hosts files). */
  root: string;
  /** `<exec-root>/containers`: bundles and rootfs mount points. */
  execRoot: string;
  images: ImagePort;
  snapshots: SnapshotPort;
  runtime: RuntimePort;
  networks: NetworkPort;
  volumes: VolumePort;
  events: EventBus;
  logger: Logger;
  /** Validates resources the way the runtime will apply them; throws InvalidArgument. */
  validateResources: (r: Resources__Output | null) => void;
}

/** Raised when a container's process could not be started; carries docker's exit code. */
export interface StartFailure {
  exitCode: number;
  message: string;
}

type Waiter = { condition: 'not-running' | 'next-exit' | 'removed'; resolve: (code: number) => void; reject: (e: unknown) => void };

/**
 * The container lifecycle of one engine: create, start, stop, kill, remove,
 * restart policies, and recovery of containers whose processes outlived the
 * daemon. Records are persisted on every state change, so a daemon that dies
 * at any point comes back with each container's state right.
 */
export class ContainerService {
  private readonly containers = new Map<string, ContainerRecord>();
  private readonly names = new Map<string, string>();
  private readonly lock = new KeyedMutex();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly watchers = new Map<string, AbortController>();
  private readonly restartTimers = new Map<string, { timer: NodeJS.Timeout; delay: number }>();
  private readonly lastDelay = new Map<string, number>();
  private readonly stopping = new Set<string>();
  private readonly shutdown = new AbortController();

  constructor(private readonly o: ContainerServiceOptions) {}

  /** Loads records and reconciles them with the processes that are (or are no longer) running. */
  async init(): Promise<void> {
    await mkdir(this.o.root, { recursive: true });
    await mkdir(this.o.execRoot, { recursive: true });
    for (const id of await readdir(this.o.root)) {
      let rec: ContainerRecord | undefined;
      try {
        rec = await readJsonIfExists<ContainerRecord>(join(this.o.root, id, 'config.v2.json'));
      } catch (err) {
        this.o.logger.error('unreadable container record; skipping it', { 'container.id': id, error: errorMessage(err) });
        continue;
      }
      if (!rec) continue;
      this.containers.set(rec.id, rec);
      this.names.set(rec.name, rec.id);
    }
    for (const rec of this.containers.values()) {
      try {
        await this.recover(rec);
      } catch (err) {
        this.o.logger.error('recovering container failed', { 'container.id': rec.id, error: errorMessage(err) });
      }
    }
  }

  /** Stops watching processes (they keep running) and cancels pending restarts. */
  close(): void {
    this.shutdown.abort();
    for (const t of this.restartTimers.values()) clearTimeout(t.timer);
    this.restartTimers.clear();
  }

  private async recover(rec: ContainerRecord): Promise<void> {
    const wasUp = ['running', 'paused', 'restarting'].includes(rec.state.status);
    if (rec.state.status === 'removing') {
      await this.destroy(rec, false);
      return;
    }
    if (!wasUp) {
      if (this.policy(rec).name === 'always' && rec.state.status === 'exited' && !rec.manuallyStopped) {
        this.scheduleRestart(rec, 0);
      }
      return;
    }
    if (rec.state.status !== 'restarting' && (await this.o.runtime.alive(rec))) {
      this.o.logger.info('re-adopted running container', { 'container.id': rec.id });
      await this.o.networks.restore(rec).catch((err: unknown) =>
        this.o.logger.error('restoring the network sandbox failed', { 'container.id': rec.id, error: errorMessage(err) }),
      );
      this.watch(rec);
      return;
    }
    const exit = (rec.state.status === 'restarting' ? undefined : await this.o.runtime.recordedExit(rec)) ?? {
      exitCode: rec.state.status === 'restarting' ? rec.state.exitCode : 255,
      oomKilled: false,
      exitedAt: rfc3339Nano(),
      error: rec.state.status === 'restarting' ? '' : 'the container process was lost while the daemon was down',
    };
    await this.onExit(rec, exit, true);
  }

  // ---- lookups ------------------------------------------------------------

  /** Finds a container by full ID, name, or unique ID prefix. Throws NotFound or InvalidArgument. */
  get(ref: string): ContainerRecord {
    const r = ref.startsWith('/') ? ref.slice(1) : ref;
    const byId = this.containers.get(r);
    if (byId) return byId;
    const byName = this.names.get(r);
    if (byName) return this.containers.get(byName)!;
    if (/^[0-9a-f]+$/.test(r)) {
      const hits = [...this.containers.keys()].filter((id) => id.startsWith(r));
      if (hits.length === 1) return this.containers.get(hits[0]!)!;
      if (hits.length > 1) throw invalidArgument(`multiple IDs found with provided prefix: ${r}; use more characters`);
    }
    throw notFound(`No such container: ${ref}`);
  }

  list(): ContainerRecord[] {
    return [...this.containers.values()].sort((a, b) => (a.created < b.created ? 1 : -1));
  }

  /** Image IDs used by containers, for image removal and prune. */
  containerUsingImage(imageId: string): string | undefined {
    for (const c of this.containers.values()) if (c.imageId === imageId) return c.id;
    return undefined;
  }

  rootfsPath(c: ContainerRecord): string {
    return join(this.o.execRoot, c.id, 'rootfs');
  }

  bundlePath(c: ContainerRecord): string {
    return join(this.o.execRoot, c.id);
  }

  // ---- create -------------------------------------------------------------

  /**
   * Creates a container from a spec. Throws InvalidArgument for a bad spec,
   * NotFound for an unknown image, AlreadyExists for a name in use. Nothing is
   * stored unless every check passes.
   */
  async create(name: string, spec: ContainerSpec__Output): Promise<{ id: string; warnings: string[] }> {
    const warnings: string[] = [];
    const finalName = name === '' ? this.uniqueRandomName() : validateName(name);
    const existing = this.names.get(finalName);
    if (existing) {
      throw alreadyExists(
        `Conflict. The container name "/${finalName}" is already in use by container "${existing}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    if (!spec.image) throw invalidArgument('no image given; say which image to run, e.g. busybox');
    spec.restart_policy = validateRestartPolicy(spec.restart_policy, spec.auto_remove);
    this.o.validateResources(spec.resources);
    if (spec.stop_signal) parseSignal(spec.stop_signal);
    const image = await this.o.images.resolve(spec.image);
    const config = this.processConfig(spec, image);

    const id = randomBytes(32).toString('hex');
    const dir = join(this.o.root, id);
    const rec: ContainerRecord = {
      id,
      name: finalName,
      created: rfc3339Nano(),
      imageRef: spec.image,
      imageId: image.id,
      spec,
      config,
      state: { status: 'created', pid: 0, exitCode: 0, error: '', oomKilled: false, startedAt: ZERO_TIME, finishedAt: ZERO_TIME },
      restartCount: 0,
      manuallyStopped: false,
      snapshotKey: `container-${id}`,
      parentChainId: image.chainId,
      logPath: join(dir, `${id}-json.log`),
      hostsPath: join(dir, 'hosts'),
      hostnamePath: join(dir, 'hostname'),
      resolvConfPath: join(dir, 'resolv.conf'),
    };
    // Reserve the name before the first await that could interleave with another create.
    if (this.names.has(finalName)) {
      throw alreadyExists(`Conflict. The container name "/${finalName}" is already in use; remove (or rename) that container to reuse the name.`);
    }
    this.names.set(finalName, id);
    try {
      await this.o.networks.create(rec);
      await this.o.volumes.create(rec, image);
      await mkdir(dir, { recursive: true });
      await this.o.snapshots.prepare(rec.snapshotKey, rec.parentChainId);
      await this.writeHostFiles(rec);
      await this.persist(rec);
    } catch (err) {
      this.names.delete(finalName);
      await this.o.volumes.remove(rec, true).catch(() => undefined);
      await this.o.networks.remove(rec).catch(() => undefined);
      await this.o.snapshots.remove(rec.snapshotKey).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    this.containers.set(id, rec);
    this.publish(rec, 'create');
    return { id, warnings };
  }

  private uniqueRandomName(): string {
    for (;;) {
      const n = randomName();
      if (!this.names.has(n)) return n;
    }
  }

  private processConfig(spec: ContainerSpec__Output, image: ResolvedImage): ProcessConfig {
    const ic = image.config;
    const entrypoint = spec.entrypoint_set ? spec.entrypoint.filter((s, i) => !(i === 0 && s === '' && spec.entrypoint.length === 1)) : (ic.Entrypoint ?? []);
    // docker: overriding the entrypoint resets the image's CMD.
    const cmd = spec.cmd.length > 0 ? spec.cmd : spec.entrypoint_set ? [] : (ic.Cmd ?? []);
    const args = [...entrypoint, ...cmd];
    if (args.length === 0) {
      throw invalidArgument('no command specified: the image has no CMD or ENTRYPOINT; give a command after the image name');
    }
    const env = mergeEnv(ic.Env ?? [], spec.env);
    if (!env.some((e) => e.startsWith('PATH='))) {
      env.unshift('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    }
    const hostname = spec.hostname || '';
    return {
      path: args[0]!,
      args: args.slice(1),
      entrypoint,
      cmd,
      env,
      workingDir: spec.working_dir || ic.WorkingDir || '/',
      user: spec.user || ic.User || '',
      stopSignal: spec.stop_signal || ic.StopSignal || 'SIGTERM',
      ...(spec.stop_timeout !== undefined ? { stopTimeout: spec.stop_timeout } : {}),
      labels: { ...(ic.Labels ?? {}), ...spec.labels },
      hostname,
      domainname: spec.domainname,
    };
  }

  /** The hostname file; hosts and resolv.conf start empty and are written by the network service at each start. */
  private async writeHostFiles(rec: ContainerRecord): Promise<void> {
    const host = rec.spec.network_mode === 'host';
    const hostname = rec.config.hostname || (host ? (await readFile('/etc/hostname', 'utf8')).trim() : rec.id.slice(0, 12));
    rec.config.hostname = hostname;
    await writeFile(rec.hostnamePath, `${hostname}\n`);
    await writeFile(rec.hostsPath, '', { flag: 'a' });
    await writeFile(rec.resolvConfPath, '', { flag: 'a' });
  }

  // ---- start / exit -------------------------------------------------------

  /**
   * Starts a created or exited container. A running container is left alone
   * (docker's "not modified"). Throws FailedPrecondition for a paused one, and
   * a ShoalError with `exitCode` when the process cannot start.
   */
  async start(ref: string, attach?: AttachStreams): Promise<void> {
    const rec = this.get(ref);
    await this.lock.run(rec.id, async () => {
      this.cancelRestart(rec);
      rec.manuallyStopped = false;
      await this.startLocked(rec, attach);
    });
  }

  private async startLocked(rec: ContainerRecord, attach?: AttachStreams): Promise<void> {
    if (rec.state.status === 'running') return;
    if (rec.state.status === 'paused') throw failedPrecondition(`cannot start a paused container ${rec.name}; try unpause instead`);
    if (rec.state.status === 'removing' || rec.state.status === 'dead') {
      throw failedPrecondition(`container ${rec.name} is marked for removal and cannot be started`);
    }
    const t0 = performance.now();
    const rootfs = this.rootfsPath(rec);
    await mkdir(rootfs, { recursive: true });
    await this.o.snapshots.mount(rec.snapshotKey, rootfs);
    const tMount = performance.now();
    let pid: number;
    try {
      const mounts = await this.o.volumes.mount(rec, rootfs, this.shutdown.signal);
      const network = await this.o.networks.setUp(rec, this.shutdown.signal);
      ({ pid } = await this.o.runtime.start(rec, rootfs, { network, mounts }, this.shutdown.signal, attach));
    } catch (err) {
      await this.o.runtime.cleanup(rec).catch(() => undefined);
      await this.o.networks.tearDown(rec).catch(() => undefined);
      await this.o.volumes.unmount(rec).catch(() => undefined);
      await this.o.snapshots.unmount(rootfs).catch(() => undefined);
      const code = (err as { exitCode?: number }).exitCode ?? 125;
      rec.state = { ...rec.state, status: rec.state.status === 'restarting' ? 'exited' : rec.state.status, exitCode: code, error: errorMessage(err), pid: 0 };
      await this.persist(rec);
      this.publish(rec, 'die', { exitCode: String(code) });
      throw err;
    }
    const tRuntime = performance.now();
    rec.state = { status: 'running', pid, exitCode: 0, error: '', oomKilled: false, startedAt: rfc3339Nano(), finishedAt: rec.state.finishedAt };
    await this.persist(rec);
    this.publish(rec, 'start');
    this.watch(rec);
    const tEnd = performance.now();
    const ms = (from: number, to: number): number => Math.round((to - from) * 100) / 100;
    this.o.logger.debug('container started', { 'container.id': rec.id, 'mount.ms': ms(t0, tMount), 'runtime.ms': ms(tMount, tRuntime), 'persist.ms': ms(tRuntime, tEnd), 'total.ms': ms(t0, tEnd) });
  }

  private watch(rec: ContainerRecord): void {
    const ctl = new AbortController();
    this.watchers.get(rec.id)?.abort();
    this.watchers.set(rec.id, ctl);
    const signal = AbortSignal.any([ctl.signal, this.shutdown.signal]);
    this.o.runtime.waitExit(rec, signal).then(
      async (exit) => {
        if (this.watchers.get(rec.id) === ctl) this.watchers.delete(rec.id);
        if (signal.aborted) return;
        // Not under the container's lock: stop/restart/remove hold it while
        // they wait for exactly this exit to be recorded.
        await this.onExit(rec, exit, false);
      },
      (err: unknown) => {
        if (signal.aborted) return;
        this.o.logger.error('waiting for container exit failed', { 'container.id': rec.id, error: errorMessage(err) });
      },
    );
  }

  private async onExit(rec: ContainerRecord, exit: ExitInfo, daemonStartup: boolean): Promise<void> {
    if (!this.containers.has(rec.id)) return;
    const startedAt = Date.parse(rec.state.startedAt);
    rec.state = {
      status: 'exited',
      pid: 0,
      exitCode: exit.exitCode,
      error: exit.error ?? '',
      oomKilled: exit.oomKilled,
      startedAt: rec.state.startedAt,
      finishedAt: exit.exitedAt,
    };
    await this.o.snapshots.unmount(this.rootfsPath(rec)).catch((err: unknown) =>
      this.o.logger.warn('unmounting rootfs failed', { 'container.id': rec.id, error: errorMessage(err) }),
    );
    await this.o.runtime.cleanup(rec).catch(() => undefined);
    await this.o.networks.tearDown(rec).catch((err: unknown) =>
      this.o.logger.warn('tearing down the network sandbox failed', { 'container.id': rec.id, error: errorMessage(err) }),
    );
    await this.o.volumes.unmount(rec).catch((err: unknown) =>
      this.o.logger.warn('unmounting volumes failed', { 'container.id': rec.id, error: errorMessage(err) }),
    );
    if (exit.oomKilled) this.publish(rec, 'oom');
    this.publish(rec, 'die', { exitCode: String(exit.exitCode) });

    const manual = rec.manuallyStopped || this.stopping.has(rec.id);
    if (rec.spec.auto_remove && !this.stopping.has(rec.id)) {
      await this.persist(rec);
      this.notify(rec, 'exit');
      await this.destroy(rec, true);
      return;
    }
    const restart = shouldRestart({
      policy: this.policy(rec),
      exitCode: exit.exitCode,
      restartCount: rec.restartCount,
      manuallyStopped: manual,
      daemonStartup,
    });
    if (restart) {
      rec.state.status = 'restarting';
      const ranFor = Number.isNaN(startedAt) ? 0 : Date.parse(exit.exitedAt) - startedAt;
      const delay = restartDelayMs(this.lastDelay.get(rec.id) ?? 0, ranFor);
      this.lastDelay.set(rec.id, delay);
      await this.persist(rec);
      this.notify(rec, 'exit');
      this.scheduleRestart(rec, delay);
      return;
    }
    await this.persist(rec);
    this.notify(rec, 'exit');
  }

  private policy(rec: ContainerRecord): RestartPolicy__Output {
    return rec.spec.restart_policy ?? { name: 'no', maximum_retry_count: 0 };
  }

  private scheduleRestart(rec: ContainerRecord, delay: number): void {
    this.cancelRestart(rec);
    const timer = setTimeout(() => {
      this.restartTimers.delete(rec.id);
      void this.lock
        .run(rec.id, async () => {
          if (!this.containers.has(rec.id) || rec.manuallyStopped) return;
          if (rec.state.status !== 'restarting' && rec.state.status !== 'exited') return;
          rec.restartCount++;
          rec.state.status = 'restarting';
          try {
            await this.startLocked(rec);
            this.publish(rec, 'restart');
          } catch (err) {
            this.o.logger.warn('restarting container failed', { 'container.id': rec.id, error: errorMessage(err) });
            // Treat a failed restart like an exit so the policy (and its retry count) applies again.
            const code = (err as { exitCode?: number }).exitCode ?? 125;
            rec.state.status = 'exited';
            if (shouldRestart({ policy: this.policy(rec), exitCode: code, restartCount: rec.restartCount, manuallyStopped: false })) {
              const d = restartDelayMs(this.lastDelay.get(rec.id) ?? 0, 0);
              this.lastDelay.set(rec.id, d);
              rec.state.status = 'restarting';
              await this.persist(rec);
              this.scheduleRestart(rec, d);
            }
          }
        })
        .catch(() => undefined);
    }, delay);
    timer.unref();
    this.restartTimers.set(rec.id, { timer, delay });
  }

  private cancelRestart(rec: ContainerRecord): void {
    const t = this.restartTimers.get(rec.id);
    if (t) clearTimeout(t.timer);
    this.restartTimers.delete(rec.id);
    if (rec.state.status === 'restarting') rec.state.status = 'exited';
  }

  // ---- stop / kill / restart ----------------------------------------------

  /**
   * Stops a container: its stop signal, then SIGKILL after the timeout
   * (seconds; -1 waits forever). A container that is not running is left alone.
   */
  async stop(ref: string, timeoutSeconds?: number, signalOverride?: string): Promise<void> {
    const rec = this.get(ref);
    await this.lock.run(rec.id, async () => {
      this.cancelRestart(rec);
      rec.manuallyStopped = true;
      await this.persist(rec);
      await this.stopLocked(rec, timeoutSeconds, signalOverride);
    });
  }

  private async stopLocked(rec: ContainerRecord, timeoutSeconds?: number, signalOverride?: string): Promise<void> {
    if (rec.state.status !== 'running' && rec.state.status !== 'paused') return;
    const timeout = timeoutSeconds ?? rec.config.stopTimeout ?? 10;
    const sig = parseSignal(signalOverride || rec.config.stopSignal || 'SIGTERM');
    this.stopping.add(rec.id);
    try {
      const exited = this.exitPromise(rec);
      if (rec.state.status === 'paused') {
        await this.o.runtime.kill(rec, sig, true).catch(() => undefined);
        await this.o.runtime.resume(rec).catch(() => undefined);
      } else {
        await this.o.runtime.kill(rec, sig).catch(() => undefined);
      }
      if (timeout >= 0) {
        const done = await Promise.race([exited.then(() => true), sleep(timeout * 1000).then(() => false)]);
        if (!done) {
          this.publish(rec, 'kill', { signal: '9' });
          await this.o.runtime.kill(rec, 9, true).catch(() => undefined);
        }
      }
      await exited;
      this.publish(rec, 'stop');
    } finally {
      this.stopping.delete(rec.id);
    }
  }

  /** Resolves at the next exit of a running container. */
  private exitPromise(rec: ContainerRecord): Promise<number> {
    return new Promise((resolve, reject) => this.addWaiter(rec.id, { condition: 'next-exit', resolve, reject }));
  }

  /** Sends a signal. Throws FailedPrecondition when the container is not running. */
  async kill(ref: string, signal = 'KILL'): Promise<void> {
    const rec = this.get(ref);
    const sig = parseSignal(signal);
    await this.lock.run(rec.id, async () => {
      if (rec.state.status !== 'running' && rec.state.status !== 'paused') {
        throw failedPrecondition(`Cannot kill container: ${rec.name}: Container ${rec.id} is not running`);
      }
      if (sig === 9 || sig === 15 || sig === 2) {
        rec.manuallyStopped = true;
        await this.persist(rec);
      }
      this.publish(rec, 'kill', { signal: String(sig) });
      await this.o.runtime.kill(rec, sig);
    });
  }

  async restart(ref: string, timeoutSeconds?: number): Promise<void> {
    const rec = this.get(ref);
    await this.lock.run(rec.id, async () => {
      this.cancelRestart(rec);
      await this.stopLocked(rec, timeoutSeconds);
      rec.manuallyStopped = false;
      await this.startLocked(rec);
      this.publish(rec, 'restart');
    });
  }

  async pause(ref: string): Promise<void> {
    const rec = this.get(ref);
    await this.lock.run(rec.id, async () => {
      if (rec.state.status === 'paused') throw failedPrecondition(`Container ${rec.id} is already paused`);
      if (rec.state.status !== 'running') throw failedPrecondition(`Container ${rec.id} is not running`);
      await this.o.runtime.pause(rec);
      rec.state.status = 'paused';
      await this.persist(rec);
      this.publish(rec, 'pause');
    });
  }

  async unpause(ref: string): Promise<void> {
    const rec = this.get(ref);
    await this.lock.run(rec.id, async () => {
      if (rec.state.status !== 'paused') throw failedPrecondition(`Container ${rec.id} is not paused`);
      await this.o.runtime.resume(rec);
      rec.state.status = 'running';
      await this.persist(rec);
      this.publish(rec, 'unpause');
    });
  }

  // ---- remove -------------------------------------------------------------

  /**
   * Removes a container. Throws Conflict for a running one unless `force`
   * (which kills it first).
   */
  async remove(ref: string, force: boolean, removeVolumes = false): Promise<void> {
    const rec = this.get(ref);
    await this.lock.run(rec.id, async () => {
      if (!this.containers.has(rec.id)) return;
      this.cancelRestart(rec);
      if (rec.state.status === 'running' || rec.state.status === 'paused') {
        if (!force) {
          throw conflict(
            `You cannot remove a ${rec.state.status} container ${rec.id}. Stop the container before attempting removal or force remove`,
          );
        }
        rec.manuallyStopped = true;
        this.stopping.add(rec.id);
        try {
          const exited = this.exitPromise(rec);
          if (rec.state.status === 'paused') await this.o.runtime.resume(rec).catch(() => undefined);
          await this.o.runtime.kill(rec, 9, true).catch(() => undefined);
          await exited;
        } finally {
          this.stopping.delete(rec.id);
        }
      }
      await this.destroy(rec, removeVolumes);
    });
  }

  private async destroy(rec: ContainerRecord, removeVolumes: boolean): Promise<void> {
    rec.state.status = 'removing';
    await this.persist(rec).catch(() => undefined);
    await this.o.snapshots.unmount(this.rootfsPath(rec)).catch(() => undefined);
    await this.o.runtime.cleanup(rec).catch(() => undefined);
    await this.o.networks.remove(rec).catch((err: unknown) =>
      this.o.logger.warn('releasing the network endpoints failed', { 'container.id': rec.id, error: errorMessage(err) }),
    );
    await this.o.volumes.remove(rec, removeVolumes).catch((err: unknown) =>
      this.o.logger.warn('releasing volumes failed', { 'container.id': rec.id, error: errorMessage(err) }),
    );
    await this.o.snapshots.remove(rec.snapshotKey).catch((err: unknown) =>
      this.o.logger.warn('removing container snapshot failed', { 'container.id': rec.id, error: errorMessage(err) }),
    );
    await rm(join(this.o.execRoot, rec.id), { recursive: true, force: true });
    await rm(join(this.o.root, rec.id), { recursive: true, force: true });
    this.containers.delete(rec.id);
    if (this.names.get(rec.name) === rec.id) this.names.delete(rec.name);
    this.lastDelay.delete(rec.id);
    this.publish(rec, 'destroy');
    this.notify(rec, 'removed');
  }

  // ---- wait ---------------------------------------------------------------

  /**
   * Waits for a condition: not-running (default: returns at once for a
   * stopped container), next-exit, or removed. Returns the exit code.
   */
  async wait(ref: string, condition: string, signal: AbortSignal): Promise<number> {
    const rec = this.get(ref);
    const cond = (condition || 'not-running') as Waiter['condition'];
    if (!['not-running', 'next-exit', 'removed'].includes(cond)) {
      throw invalidArgument(`invalid wait condition "${condition}"; use not-running, next-exit or removed`);
    }
    if (cond === 'not-running' && !['running', 'paused', 'restarting'].includes(rec.state.status)) {
      return rec.state.exitCode;
    }
    return new Promise<number>((resolve, reject) => {
      const w: Waiter = { condition: cond, resolve, reject };
      const onAbort = (): void => {
        this.removeWaiter(rec.id, w);
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      w.resolve = (code) => {
        signal.removeEventListener('abort', onAbort);
        resolve(code);
      };
      this.addWaiter(rec.id, w);
    });
  }

  private addWaiter(id: string, w: Waiter): void {
    this.waiters.set(id, [...(this.waiters.get(id) ?? []), w]);
  }

  private removeWaiter(id: string, w: Waiter): void {
    const list = (this.waiters.get(id) ?? []).filter((x) => x !== w);
    if (list.length) this.waiters.set(id, list);
    else this.waiters.delete(id);
  }

  private notify(rec: ContainerRecord, what: 'exit' | 'removed'): void {
    const list = this.waiters.get(rec.id) ?? [];
    const keep: Waiter[] = [];
    for (const w of list) {
      const fire =
        what === 'removed' ||
        w.condition === 'next-exit' ||
        (w.condition === 'not-running' && rec.state.status !== 'restarting');
      if (fire && !(what === 'exit' && w.condition === 'removed')) w.resolve(rec.state.exitCode);
      else keep.push(w);
    }
    if (keep.length) this.waiters.set(rec.id, keep);
    else this.waiters.delete(rec.id);
  }

  // ---- rename / update ----------------------------------------------------

  async rename(ref: string, newName: string): Promise<void> {
    const rec = this.get(ref);
    const name = validateName(newName);
    if (name === rec.name) throw invalidArgument(`Renaming a container with the same name as its current name; pick a new name`);
    const other = this.names.get(name);
    if (other) throw alreadyExists(`Conflict. The container name "/${name}" is already in use by container "${other}". You have to remove (or rename) that container to be able to reuse that name.`);
    const old = rec.name;
    this.names.delete(old);
    this.names.set(name, rec.id);
    rec.name = name;
    await this.persist(rec);
    this.publish(rec, 'rename', { oldName: `/${old}` });
  }

  /** Applies new resource limits (live when running) and/or a new restart policy. */
  async update(ref: string, resources: Resources__Output | null, set: string[], policy: RestartPolicy__Output | null): Promise<string[]> {
    const rec = this.get(ref);
    return this.lock.run(rec.id, async () => {
      const current: Resources__Output = rec.spec.resources ?? emptyResources();
      const next: Resources__Output = { ...current, ulimits: current.ulimits };
      if (resources) {
        for (const key of set) {
          if (!UPDATABLE_RESOURCES.includes(key)) {
            throw invalidArgument(`cannot update resource "${key}"; updatable: ${UPDATABLE_RESOURCES.join(', ')}`);
          }
          (next as unknown as Record<string, unknown>)[key] = (resources as unknown as Record<string, unknown>)[key];
        }
      }
      this.o.validateResources(next);
      const nextPolicy = policy && policy.name !== '' ? validateRestartPolicy(policy, rec.spec.auto_remove) : rec.spec.restart_policy;
      const prev = rec.spec;
      rec.spec = { ...rec.spec, resources: next, restart_policy: nextPolicy };
      if (rec.state.status === 'running' || rec.state.status === 'paused') {
        try {
          await this.o.runtime.update(rec);
        } catch (err) {
          rec.spec = prev;
          throw err;
        }
      }
      await this.persist(rec);
      this.publish(rec, 'update');
      return [];
    });
  }

  // ---- misc ---------------------------------------------------------------

  /** What the network and volume services show of a container in ps and inspect. */
  views(rec: ContainerRecord): AttachmentViews {
    const n = this.o.networks.summary(rec);
    return {
      ports: n.ports,
      networks: n.networks,
      mounts: this.o.volumes.summary(rec),
      networkSettings: this.o.networks.inspect(rec),
      mountPoints: this.o.volumes.inspect(rec),
    };
  }

  async sizeRw(rec: ContainerRecord): Promise<number> {
    return this.o.snapshots.usage(rec.snapshotKey).catch(() => 0);
  }

  /** Mounts the rootfs of a stopped container for the duration of `fn` (cp, export, diff). */
  async withRootfs<T>(ref: string, fn: (rootfs: string, rec: ContainerRecord) => Promise<T>): Promise<T> {
    const rec = this.get(ref);
    const rootfs = this.rootfsPath(rec);
    if (rec.state.status === 'running' || rec.state.status === 'paused') return fn(rootfs, rec);
    return this.lock.run(rec.id, async () => {
      await mkdir(rootfs, { recursive: true });
      await this.o.snapshots.mount(rec.snapshotKey, rootfs);
      try {
        return await fn(rootfs, rec);
      } finally {
        await this.o.snapshots.unmount(rootfs).catch(() => undefined);
      }
    });
  }

  /** Removes every stopped container; returns their IDs. */
  async prune(filter: (rec: ContainerRecord) => boolean): Promise<{ deleted: string[]; reclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const rec of this.list()) {
      if (!['exited', 'created', 'dead'].includes(rec.state.status) || !filter(rec)) continue;
      const size = await this.sizeRw(rec);
      try {
        await this.remove(rec.id, false);
        deleted.push(rec.id);
        reclaimed += size;
      } catch (err) {
        this.o.logger.warn('prune could not remove container', { 'container.id': rec.id, error: errorMessage(err) });
      }
    }
    return { deleted, reclaimed };
  }

  async persist(rec: ContainerRecord): Promise<void> {
    await writeFileAtomic(join(this.o.root, rec.id, 'config.v2.json'), JSON.stringify(rec));
  }

  publish(rec: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.o.events.publish('container', action, rec.id, {
      ...rec.config.labels,
      image: rec.imageRef,
      name: rec.name,
      ...extra,
    });
  }

  /** True when the container's log file exists (a container that never started has none). */
  async hasLogs(rec: ContainerRecord): Promise<boolean> {
    return stat(rec.logPath).then(
      () => true,
      () => false,
    );
  }
}

/** Image env first, then the container's: a later entry replaces an earlier one with the same key in place (docker's rule). */
export function mergeEnv(base: string[], overrides: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...overrides]) {
    const i = e.indexOf('=');
    const key = i < 0 ? e : e.slice(0, i);
    if (i < 0) continue;
    out.set(key, e);
  }
  return [...out.values()];
}

/** Resource fields `update` may change on a live container. */
const UPDATABLE_RESOURCES = ['memory', 'memory_swap', 'memory_reservation', 'nano_cpus', 'cpu_shares', 'cpuset_cpus', 'pids_limit', 'cpu_period', 'cpu_quota'];

export function emptyResources(): Resources__Output {
  return {
    memory: '0',
    memory_swap: '0',
    memory_reservation: '0',
    nano_cpus: '0',
    cpu_shares: '0',
    cpuset_cpus: '',
    ulimits: [],
    cpu_period: '0',
    cpu_quota: '0',
  };
}
