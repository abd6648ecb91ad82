// DNS lookup latency from inside a container: runs net-dns-client.js in the
// container's network namespace and returns what it measured.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { timedRun } from './timed-process.js';

/** What the client is asked to do (passed to it as one JSON argument). */
export interface DnsLoadSpec {
  /** The nameserver's IPv4 address (port 53). */
  server: string;
  /** The name to look up (an A query). */
  name: string;
  qps: number;
  /** Length of the recorded window. */
  seconds: number;
  /** Queries sent before the window at the same rate, not recorded. */
  warmupMs: number;
  /** An answer later than this counts as a timeout. */
  timeoutMs: number;
}

/** What the client measured in the recorded window. */
export interface DnsLoadReport {
  sent: number;
  /** Answers with an A record, in time. */
  answered: number;
  /** No answer, or one later than the timeout. */
  timeouts: number;
  /** Answers without an A record (NXDOMAIN, SERVFAIL, …). */
  errors: number;
  firstError?: string;
  /** The first address the name resolved to. */
  answer?: string;
  latenciesMs: number[];
  /** From the first recorded send to the last send: the achieved rate is sent / windowMs. */
  windowMs: number;
}

const CLIENT = fileURLToPath(new URL('./net-dns-client.js', import.meta.url));

/**
 * Runs the load client inside the network namespace at `netnsPath` (a file
 * nsenter accepts: /run/netns/NAME, a container's SandboxKey, /proc/PID/ns/net).
 * Throws when the client cannot run or prints no report.
 */
export async function runDnsLoad(netnsPath: string, spec: DnsLoadSpec, signal?: AbortSignal): Promise<DnsLoadReport> {
  const timeoutMs = spec.warmupMs + spec.seconds * 1000 + spec.timeoutMs + 30_000;
  const r = await timedRun('nsenter', [`--net=${netnsPath}`, process.execPath, CLIENT, JSON.stringify(spec)], { timeoutMs, ...(signal ? { signal } : {}) });
  if (r.code !== 0) throw new Error(`the DNS client in ${netnsPath} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
  try {
    return JSON.parse(r.stdout) as DnsLoadReport;
  } catch {
    throw new Error(`the DNS client printed no report: ${r.stdout.slice(0, 300)}`);
  }
}

/** The first `nameserver` of a resolv.conf, or undefined. */
export function firstNameserver(resolvConf: string): string | undefined {
  return /^\s*nameserver\s+(\S+)/m.exec(resolvConf)?.[1];
}

const REFERENCE = fileURLToPath(new URL('./net-dns-reference.js', import.meta.url));

/**
 * Starts the reference DNS server (net-dns-reference.js) on `address`:53 inside
 * the namespace at `netnsPath`, answering `answer` for every A query; resolves
 * once it listens. The caller kills the process. Throws when it exits first.
 */
export async function startReferenceDns(netnsPath: string, address: string, answer: string, signal?: AbortSignal): Promise<ChildProcess> {
  const child = spawn('nsenter', [`--net=${netnsPath}`, process.execPath, REFERENCE, address, answer], { stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the reference DNS server exited ${code}: ${out.trim()}`)));
  });
  return child;
}
