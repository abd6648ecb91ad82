// Where one CLI command's time goes, end to end, from the daemon's debug timing
// lines (shoald --log-level debug): `request done` (method, duration.ms) for
// every RPC, `container started` (mount.ms, runtime.ms, persist.ms, total.ms)
// and `container process started` (spec.ms, shim.ms). The bench knows when it
// spawned the CLI and when the CLI exited; the lines logged in between belong
// to that command, since the bench runs one command at a time. The daemon logs
// wall-clock times with millisecond resolution, so each phase is ±1 ms.
import { percentile } from './stats.js';
import type { Cell } from './table.js';

/** One CLI invocation: wall-clock epoch ms at spawn and at exit. */
export interface CommandWindow {
  startedAt: number;
  endedAt: number;
}

/** The timing lines of a daemon log, with their start and end in epoch ms. */
export interface DaemonTimings {
  requests: { method: string; start: number; end: number }[];
  starts: { start: number; end: number; mountMs: number; runtimeMs: number; persistMs: number }[];
  processes: { end: number; specMs: number; shimMs: number }[];
}

interface LogLine {
  msg?: unknown;
  time?: unknown;
  method?: unknown;
  'duration.ms'?: unknown;
  'mount.ms'?: unknown;
  'runtime.ms'?: unknown;
  'persist.ms'?: unknown;
  'total.ms'?: unknown;
  'spec.ms'?: unknown;
  'shim.ms'?: unknown;
}

/** Picks the timing lines out of a daemon's JSON-lines log; other lines (and non-JSON ones) are skipped. */
export function parseDaemonTimings(log: string): DaemonTimings {
  const out: DaemonTimings = { requests: [], starts: [], processes: [] };
  for (const text of log.split('\n')) {
    if (!text.startsWith('{')) continue;
    let l: LogLine;
    try {
      l = JSON.parse(text) as LogLine;
    } catch {
      continue;
    }
    const end = typeof l.time === 'string' ? Date.parse(l.time) : typeof l.time === 'number' ? l.time : NaN;
    if (Number.isNaN(end)) continue;
    const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
    if (l.msg === 'request done' && typeof l.method === 'string') {
      out.requests.push({ method: l.method.replace(/^.*\//, ''), start: end - num(l['duration.ms']), end });
    } else if (l.msg === 'container started') {
      out.starts.push({ start: end - num(l['total.ms']), end, mountMs: num(l['mount.ms']), runtimeMs: num(l['runtime.ms']), persistMs: num(l['persist.ms']) });
    } else if (l.msg === 'container process started') {
      out.processes.push({ end, specMs: num(l['spec.ms']), shimMs: num(l['shim.ms']) });
    }
  }
  return out;
}

/** The phases of one command's runs, by PHASES label; and how many runs could not be read from the log. */
export interface Breakdown {
  phases: Map<string, number[]>;
  used: number;
  skipped: number;
}

/** The phases, in the order they happen; the indented ones split the RPC that starts the container. */
export const PHASES = [
  'client start-up: spawn → first request at the daemon',
  'Create RPC',
  'client between RPCs',
  'Attach or Start RPC (starts the container)',
  '  request → container start begins',
  '  mount rootfs',
  '  OCI spec + bundle files',
  '  shim: runc create + start',
  '  persist + watch',
  '  container started → reply ends',
  'other RPCs',
  'client exit: last reply → process exit',
  'whole command',
] as const;
type Phase = (typeof PHASES)[number];

// The log's times are whole milliseconds: allow that much either side of a window.
const SLACK_MS = 1;

/**
 * Splits each window into PHASES: the client's start-up (spawn → first request
 * at the daemon), each RPC, the client's time between RPCs, and its exit (last
 * reply → process exit); the RPC that started the container is split further
 * with the start lines. A window without exactly one container start is skipped.
 */
export function breakdown(t: DaemonTimings, windows: readonly CommandWindow[]): Breakdown {
  const phases = new Map<string, number[]>();
  const add = (phase: Phase, v: number): void => {
    const list = phases.get(phase) ?? [];
    list.push(v);
    phases.set(phase, list);
  };
  let used = 0;
  let skipped = 0;
  for (const w of windows) {
    const inside = (start: number, end: number): boolean => start >= w.startedAt - SLACK_MS && end <= w.endedAt + SLACK_MS;
    const reqs = t.requests.filter((r) => inside(r.start, r.end)).sort((a, b) => a.start - b.start);
    const starts = t.starts.filter((s) => inside(s.start, s.end));
    const procs = t.processes.filter((p) => inside(p.end, p.end));
    const st = starts[0];
    const proc = procs[0];
    const first = reqs[0];
    const last = reqs.at(-1);
    const host = st && reqs.find((r) => r.start <= st.start + SLACK_MS && r.end >= st.end - SLACK_MS);
    if (starts.length !== 1 || procs.length !== 1 || !st || !proc || !first || !last || !host) {
      skipped += 1;
      continue;
    }
    used += 1;
    add('client start-up: spawn → first request at the daemon', Math.max(0, first.start - w.startedAt));
    let gaps = 0;
    let others = 0;
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i];
      const prev = reqs[i - 1];
      if (!r) continue;
      if (prev) gaps += Math.max(0, r.start - prev.end);
      if (r === host) continue;
      if (r.method === 'Create') add('Create RPC', r.end - r.start);
      else others += r.end - r.start;
    }
    add('client between RPCs', gaps);
    add('Attach or Start RPC (starts the container)', host.end - host.start);
    add('  request → container start begins', Math.max(0, st.start - host.start));
    add('  mount rootfs', st.mountMs);
    add('  OCI spec + bundle files', proc.specMs);
    add('  shim: runc create + start', proc.shimMs);
    add('  persist + watch', st.persistMs);
    add('  container started → reply ends', Math.max(0, host.end - st.end));
    add('other RPCs', others);
    add('client exit: last reply → process exit', Math.max(0, w.endedAt - last.end));
    add('whole command', w.endedAt - w.startedAt);
  }
  return { phases, used, skipped };
}

/** One row a phase, one p50 column a command; a phase a command never had is blank. */
export function breakdownRows(commands: readonly Breakdown[]): Cell[][] {
  return PHASES.map((phase) => [phase, ...commands.map((b) => percentile(b.phases.get(phase) ?? [], 50))]);
}
