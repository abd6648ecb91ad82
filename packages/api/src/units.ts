// Pure parsers for docker-style flag values. They live in the api package so
// the CLI can validate before a request leaves the machine, and the daemon
// validates the same way when a request arrives.
import { invalidArgument } from './errors.js';

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

// Docker's RAMInBytes grammar: a decimal number, an optional space, an optional
// binary unit letter, an optional "i" and an optional "b", case-insensitive.
const SIZE_RE = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i;

/**
 * Parses a memory size like docker's `--memory` ("512m", "1.5g", "1024", "2GiB").
 * Units are binary (k = 1024). Throws InvalidArgument when the text is not a size.
 */
export function parseBytes(text: string): number {
  const m = SIZE_RE.exec(text.trim());
  if (!m) throw invalidArgument(`invalid size: '${text}'; use a number with an optional unit such as 512m or 2g.`);
  const value = Number(m[1]);
  const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase()] ?? 1;
  const bytes = Math.trunc(value * unit);
  if (!Number.isSafeInteger(bytes)) throw invalidArgument(`invalid size: '${text}' is too large.`);
  return bytes;
}

/**
 * Parses `--memory-swap`: "-1" means unlimited swap (returned as -1), otherwise a size.
 * Throws InvalidArgument when the text is neither.
 */
export function parseMemorySwap(text: string): number {
  if (text.trim() === '-1') return -1;
  return parseBytes(text);
}

/**
 * Parses `--cpus` ("1.5", "0.25") into nano-CPUs (1e9 per CPU), like docker.
 * Throws InvalidArgument for negative, non-numeric, or too-precise values.
 */
export function parseCpus(text: string): number {
  const t = text.trim();
  if (!/^\d+(\.\d+)?$/.test(t) && !/^\.\d+$/.test(t)) {
    throw invalidArgument(`invalid value for --cpus: '${text}'; use a positive number of CPUs such as 1.5.`);
  }
  const [whole = '0', frac = ''] = t.split('.');
  if (frac.replace(/0+$/, '').length > 9) {
    throw invalidArgument(`invalid value for --cpus: '${text}' is too precise; use at most 9 decimal places.`);
  }
  const nano = Number(whole) * 1e9 + Number((frac + '000000000').slice(0, 9));
  if (!Number.isSafeInteger(nano)) throw invalidArgument(`invalid value for --cpus: '${text}' is too large.`);
  return nano;
}

/** The resource names `--ulimit` accepts (docker's list), mapped to their RLIMIT_ constants. */
export const ULIMIT_NAMES: Readonly<Record<string, string>> = {
  core: 'RLIMIT_CORE',
  cpu: 'RLIMIT_CPU',
  data: 'RLIMIT_DATA',
  fsize: 'RLIMIT_FSIZE',
  locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK',
  msgqueue: 'RLIMIT_MSGQUEUE',
  nice: 'RLIMIT_NICE',
  nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC',
  rss: 'RLIMIT_RSS',
  rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING',
  stack: 'RLIMIT_STACK',
};

/** A parsed `--ulimit`; -1 means unlimited. */
export interface UlimitValue {
  name: string;
  soft: number;
  hard: number;
}

function parseLimit(text: string, whole: string): number {
  if (text === '-1' || text === 'unlimited') return -1;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw invalidArgument(`invalid ulimit '${whole}': '${text}' is not a number; use name=soft[:hard], e.g. nofile=1024:2048.`);
  }
  return Number(text);
}

/**
 * Parses `--ulimit name=soft[:hard]` (hard defaults to soft).
 * Throws InvalidArgument for an unknown name, a bad number, or soft > hard.
 */
export function parseUlimit(text: string): UlimitValue {
  const eq = text.indexOf('=');
  if (eq <= 0) throw invalidArgument(`invalid ulimit '${text}'; use name=soft[:hard], e.g. nofile=1024:2048.`);
  const name = text.slice(0, eq).trim().toLowerCase();
  if (!(name in ULIMIT_NAMES)) {
    throw invalidArgument(`invalid ulimit type: ${name}; use one of ${Object.keys(ULIMIT_NAMES).join(', ')}.`);
  }
  const parts = text.slice(eq + 1).split(':');
  if (parts.length > 2) throw invalidArgument(`invalid ulimit '${text}'; use name=soft[:hard], e.g. nofile=1024:2048.`);
  const soft = parseLimit(parts[0] ?? '', text);
  const hard = parts[1] === undefined ? soft : parseLimit(parts[1], text);
  const unl = (v: number): number => (v === -1 ? Infinity : v);
  if (unl(soft) > unl(hard)) {
    throw invalidArgument(`invalid ulimit '${text}': the soft limit ${soft} is above the hard limit ${hard}.`);
  }
  return { name, soft, hard };
}

// Linux x86_64/arm64 signal numbers (SIGIOT, SIGPOLL and SIGCLD are aliases).
const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGIOT: 6, SIGBUS: 7,
  SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14,
  SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17, SIGCLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20,
  SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27,
  SIGWINCH: 28, SIGIO: 29, SIGPOLL: 29, SIGPWR: 30, SIGSYS: 31,
};
const SIGRTMIN = 34;
const SIGRTMAX = 64;

const NAMES_BY_NUMBER = new Map<number, string>();
for (const [name, n] of Object.entries(SIGNALS)) if (!NAMES_BY_NUMBER.has(n)) NAMES_BY_NUMBER.set(n, name);

/**
 * Parses a signal given as a name ("SIGTERM", "term", "RTMIN+3") or a number ("15").
 * Throws InvalidArgument for anything else.
 */
export function parseSignal(text: string): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n >= 1 && n <= SIGRTMAX) return n;
    throw invalidArgument(`invalid signal: ${text}; signal numbers run from 1 to ${SIGRTMAX}.`);
  }
  let name = t.toUpperCase();
  if (!name.startsWith('SIG')) name = `SIG${name}`;
  const known = SIGNALS[name];
  if (known !== undefined) return known;
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const base = rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX;
    const off = rt[3] === undefined ? 0 : Number(rt[3]) * (rt[2] === '-' ? -1 : 1);
    const n = base + off;
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
  }
  throw invalidArgument(`invalid signal: ${text}; use a name such as SIGTERM or a number such as 15.`);
}

/** The conventional name of a signal number ("SIGTERM"), or "SIGRTMIN+n", or String(n) when unknown. */
export function signalName(n: number): string {
  const name = NAMES_BY_NUMBER.get(n);
  if (name) return name;
  if (n === SIGRTMIN) return 'SIGRTMIN';
  if (n > SIGRTMIN && n <= SIGRTMAX) return `SIGRTMIN+${n - SIGRTMIN}`;
  return String(n);
}
