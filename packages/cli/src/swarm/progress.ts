// Waiting for a service to converge, with docker's per-replica progress
// ("overall progress: 2 out of 3 tasks", one line per slot). It polls the
// Control API: the service for its spec version and mode, its tasks for their
// states. It returns once every slot runs a task of the current spec (jobs:
// once enough tasks completed), and throws ExitError(1) with the tasks' own
// error when tasks keep failing or the service does not converge in time.
import { isDeepStrictEqual } from 'node:util';
import { isNotFound, type Service__Output, type Task__Output } from '@shoal/api';
import type { ControlClient } from '@shoal/api/gen/shoal/swarm/v1/Control';
import { ExitError } from '../cli-error.js';
import { rpc } from './rpc.js';
import { stateWord } from './format.js';

export interface ProgressOptions {
  control: ControlClient;
  serviceId: string;
  /** Where progress goes (stdout); nothing is written when quiet. */
  out: (text: string) => void;
  /** Redraw in place (a terminal) instead of printing each change on a new line. */
  tty: boolean;
  quiet?: boolean;
  signal: AbortSignal;
  /** Give up after this long (default 120 s, or SHOAL_CONVERGE_TIMEOUT seconds). */
  timeoutMs?: number;
  /** Time between polls (default 200 ms). */
  pollMs?: number;
  /** With no tasks at all for this long, a global service counts as converged on zero nodes (default 3 s). */
  emptyGraceMs?: number;
}

/** docker's numbering of the states a task passes on its way to running. */
const STATE_STEP: Record<string, number> = {
  NEW: 1,
  PENDING: 3,
  ASSIGNED: 4,
  ACCEPTED: 5,
  PREPARING: 6,
  READY: 7,
  STARTING: 8,
  RUNNING: 9,
};
const BAR_WIDTH = 50;
const FAILED_STATES = new Set(['FAILED', 'REJECTED']);
const DEFAULT_FAILURES = 3;

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

const createdMs = (t: Task__Output): number => Number(t.meta?.created_at?.seconds ?? 0) * 1000 + (t.meta?.created_at?.nanos ?? 0) / 1e6;

interface Snapshot {
  lines: Array<{ key: string; text: string; step: number }>;
  header: string[];
  converged: boolean;
  /** A reason to give up now (tasks keep failing). */
  failure?: string;
  /** The most recent task error, for the timeout message. */
  lastError: string;
}

function slotLabel(state: Task__Output | undefined): { text: string; step: number } {
  if (!state) return { text: '', step: 0 };
  const s = state.status?.state ?? 'NEW';
  const err = state.status?.err ?? '';
  if (err !== '' && (STATE_STEP[s] ?? 10) <= STATE_STEP.PENDING!) return { text: err, step: STATE_STEP[s] ?? 0 };
  return { text: stateWord(s), step: STATE_STEP[s] ?? 0 };
}

/**
 * Whether a task runs the service's current spec: it was made from this spec
 * version, or from an earlier one that differs only outside the task (e.g. a
 * scale), which the orchestrator keeps rather than replaces (swarmkit's
 * `_up-to-date`: the task is not dirty).
 */
function upToDate(service: Service__Output, t: Task__Output): boolean {
  const version = service.spec_version?.index ?? '0';
  if ((t.spec_version?.index ?? '0') === version) return true;
  const want = service.spec?.task ?? null;
  let have = t.spec ?? null;
  // A log driver the task got from the cluster's defaults does not make it out of date.
  if (want && have && !want.log_driver && have.log_driver) have = { ...have, log_driver: null };
  if (!isDeepStrictEqual(want, have)) return false;
  return t.endpoint === null || isDeepStrictEqual(service.spec?.endpoint ?? null, t.endpoint?.spec ?? null);
}

/** Pure: what the service's tasks say about its progress. Exported for tests. */
export function snapshot(service: Service__Output, tasks: readonly Task__Output[], elapsedMs: number, emptyGraceMs = 3000): Snapshot {
  const spec = service.spec;
  const version = service.spec_version?.index ?? '0';
  const mode = spec?.mode ?? (spec?.global ? 'global' : spec?.replicated_job ? 'replicated_job' : spec?.global_job ? 'global_job' : 'replicated');
  const job = mode === 'replicated_job' || mode === 'global_job';
  const current = tasks.filter((t) => (job ? t.job_iteration?.index === version : upToDate(service, t)));
  const lastError = [...tasks].sort((a, b) => createdMs(b) - createdMs(a)).find((t) => (t.status?.err ?? '') !== '')?.status?.err ?? '';

  // Failures per slot (or node) of the current spec.
  const restart = spec?.task?.restart;
  const maxAttempts = Number(restart?.max_attempts ?? 0);
  const threshold = restart?.condition === 'NONE' ? 1 : maxAttempts > 0 ? Math.min(DEFAULT_FAILURES, maxAttempts) : DEFAULT_FAILURES;
  const failures = new Map<string, Task__Output[]>();
  for (const t of current) {
    if (!FAILED_STATES.has(t.status?.state ?? '')) continue;
    const key = t.slot !== '0' ? t.slot : t.node_id;
    failures.set(key, [...(failures.get(key) ?? []), t]);
  }
  let failure: string | undefined;
  for (const fs of failures.values()) {
    if (fs.length >= threshold) {
      const newest = fs.sort((a, b) => createdMs(b) - createdMs(a))[0];
      failure = newest?.status?.err || newest?.status?.message || 'task failed';
      break;
    }
  }

  const bySlot = new Map<string, Task__Output[]>();
  for (const t of current) {
    const key = t.slot !== '0' ? t.slot : t.node_id;
    bySlot.set(key, [...(bySlot.get(key) ?? []), t]);
  }
  const newestLive = (ts: Task__Output[]): Task__Output | undefined =>
    ts.filter((t) => t.desired_state === (job ? 'COMPLETE' : 'RUNNING')).sort((a, b) => createdMs(b) - createdMs(a))[0];

  if (mode === 'replicated' || mode === 'global') {
    const live = [...bySlot.entries()]
      .map(([key, ts]) => ({ key, task: newestLive(ts) }))
      .filter((x): x is { key: string; task: Task__Output } => x.task !== undefined)
      .sort((a, b) => (mode === 'replicated' ? Number(a.key) - Number(b.key) : a.key.localeCompare(b.key)));
    const want = mode === 'replicated' ? Number(spec?.replicated?.replicas ?? 0) : live.length;
    const running = live.filter((x) => x.task.status?.state === 'RUNNING').length;
    const lines: Snapshot['lines'] = [];
    for (let i = 0; i < Math.max(want, mode === 'replicated' ? want : live.length); i++) {
      const x = live[i];
      const label = slotLabel(x?.task);
      lines.push({ key: mode === 'replicated' ? `${i + 1}/${want}` : (x?.task.node_id ?? '').slice(0, 12), ...label });
    }
    const empty = mode === 'global' && live.length === 0 && current.length === 0;
    const converged = empty ? elapsedMs >= emptyGraceMs : running === want && live.length === want;
    return { header: [`overall progress: ${Math.min(running, want)} out of ${want} tasks`], lines, converged, failure, lastError };
  }

  // Jobs: count completions of this iteration.
  const completed = current.filter((t) => t.status?.state === 'COMPLETE').length;
  const active = current.filter((t) => t.desired_state === 'COMPLETE' && !['COMPLETE', 'FAILED', 'REJECTED', 'SHUTDOWN'].includes(t.status?.state ?? '')).length;
  const lines: Snapshot['lines'] = [...bySlot.entries()]
    .sort((a, b) => (mode === 'replicated_job' ? Number(a[0]) - Number(b[0]) : a[0].localeCompare(b[0])))
    .map(([key, ts]) => {
      const t = [...ts].sort((a, b) => createdMs(b) - createdMs(a))[0];
      const label = t?.status?.state === 'COMPLETE' ? { text: 'complete', step: 10 } : slotLabel(t);
      return { key: mode === 'replicated_job' ? key : key.slice(0, 12), ...label };
    });
  if (mode === 'replicated_job') {
    const total = Number(spec?.replicated_job?.total_completions ?? 0);
    const max = Number(spec?.replicated_job?.max_concurrent ?? 0);
    return {
      header: [`job progress: ${Math.min(completed, total)} out of ${total} complete`, `active tasks: ${active} out of ${max} tasks`],
      lines,
      converged: completed >= total,
      failure,
      lastError,
    };
  }
  const nodes = bySlot.size;
  const empty = nodes === 0;
  return {
    header: [`job progress: ${completed} out of ${nodes} complete`],
    lines,
    converged: empty ? elapsedMs >= emptyGraceMs : completed >= nodes && [...bySlot.values()].every((ts) => ts.some((t) => t.status?.state === 'COMPLETE')),
    failure,
    lastError,
  };
}

function bar(step: number): string {
  if (step <= 0) return '';
  const filled = Math.min(BAR_WIDTH, Math.round((Math.min(step, 9) / 9) * BAR_WIDTH));
  return step >= 9 ? `[${'='.repeat(BAR_WIDTH)}>]` : `[${'='.repeat(Math.max(0, filled - 1))}>${' '.repeat(BAR_WIDTH - filled)}]`;
}

/**
 * Polls until the service converges.
 * @throws ExitError(1) when tasks keep failing, the service disappears, or it
 *   does not converge within the timeout; the daemon's errors as ShoalErrors.
 */
export async function waitForService(o: ProgressOptions): Promise<void> {
  const started = Date.now();
  const timeoutMs = o.timeoutMs ?? (Number(process.env.SHOAL_CONVERGE_TIMEOUT) > 0 ? Number(process.env.SHOAL_CONVERGE_TIMEOUT) * 1000 : 120_000);
  const pollMs = o.pollMs ?? 200;
  const printed = new Map<string, string>();
  let drawn = 0;
  let name = o.serviceId;
  const write = (s: Snapshot): void => {
    if (o.quiet) return;
    const all = [...s.header.map((h, i) => ({ key: `#${i}`, line: h })), ...s.lines.map((l) => ({ key: l.key, line: `${l.key}: ${l.text}` + (o.tty ? `   ${bar(l.step)}` : '') }))];
    if (o.tty) {
      let text = drawn > 0 ? `\x1b[${drawn}A` : '';
      for (const x of all) text += `\x1b[2K${x.line}\n`;
      drawn = all.length;
      o.out(text);
      return;
    }
    for (const x of all) {
      if (printed.get(x.key) === x.line) continue;
      printed.set(x.key, x.line);
      o.out(`${x.line}\n`);
    }
  };
  for (;;) {
    if (o.signal.aborted) throw new ExitError(130, 'Operation continuing in background.\nUse `shoal service ps` to check progress.');
    let service: Service__Output;
    try {
      service = (await rpc<{ service: Service__Output }>((cb) => o.control.GetService({ service_id: o.serviceId }, cb), o.signal)).service;
    } catch (err) {
      if (isNotFound(err)) throw new ExitError(1, `service ${name} was removed while waiting for it to converge`);
      throw err;
    }
    name = service.spec?.annotations?.name ?? name;
    const tasks = (await rpc<{ tasks: Task__Output[] }>((cb) => o.control.ListTasks({ filters: { service_ids: [service.id] } }, cb), o.signal)).tasks;
    const elapsed = Date.now() - started;
    const s = snapshot(service, tasks, elapsed, o.emptyGraceMs);
    write(s);
    if (s.converged) {
      if (!o.quiet) o.out('verify: Service converged\n');
      return;
    }
    if (s.failure !== undefined) throw new ExitError(1, `service ${name}: tasks keep failing: ${s.failure}`);
    if (elapsed >= timeoutMs) {
      const why = s.lastError !== '' ? `: ${s.lastError}` : '';
      throw new ExitError(1, `service ${name} did not converge within ${Math.round(timeoutMs / 1000)}s${why}; see \`shoal service ps ${name}\``);
    }
    await sleep(pollMs, o.signal);
  }
}
