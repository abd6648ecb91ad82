// Network namespaces for end-to-end tests: each daemon is a "host" with its own
// namespace, and a Lab joins several hosts through a bridge that lives in a
// switch namespace of its own, so tests never touch the real host's interfaces
// or iptables. Names carry the creating process's pid, so leftovers of a
// crashed run are swept by the next one.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const PREFIX = 'se2e';

export interface Teardown {
  teardown(fn: () => Promise<void> | void): void;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The path of a named namespace, for `nsenter --net=`. */
export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

async function ip(args: string[]): Promise<void> {
  try {
    await execFileP('ip', args);
  } catch (err) {
    throw new Error(`ip ${args.join(' ')} failed: ${(err as { stderr?: string }).stderr ?? String(err)}`, { cause: err });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let swept = false;

/** Deletes namespaces left by test processes that are gone. Never throws. */
export async function sweepStaleNamespaces(): Promise<void> {
  if (swept) return;
  swept = true;
  if (!existsSync('/run/netns')) return;
  for (const name of readdirSync('/run/netns')) {
    const m = new RegExp(`^${PREFIX}-(\\d+)-`).exec(name);
    if (m && !alive(Number(m[1]))) await execFileP('ip', ['netns', 'del', name]).catch(() => undefined);
  }
}

/** Creates a namespace with loopback up; deleted at teardown. Throws when `ip netns add` fails. */
export async function createNetns(t: Teardown | undefined, role: string): Promise<string> {
  await sweepStaleNamespaces();
  const name = `${PREFIX}-${process.pid}-${role}-${Math.random().toString(36).slice(2, 7)}`;
  await ip(['netns', 'add', name]);
  t?.teardown(() => deleteNetns(name));
  await ip(['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/** Never throws. */
export async function deleteNetns(name: string): Promise<void> {
  await execFileP('ip', ['netns', 'del', name]).catch(() => undefined);
}

/** Runs a command inside a namespace (nsenter keeps our mounts and cgroups, unlike `ip netns exec`). */
export function inNetns(name: string, argv: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${netnsPath(name)}`, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? (sig ? 137 : -1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(o.input ?? '');
  });
}

export interface LabHost {
  netns: string;
  /** The host's address on the lab network. */
  ip: string;
}

/**
 * A small LAN of namespaces: a switch namespace holding bridge `lan0`
 * (10.250.<n>.0/24), and hosts attached to it by veth pairs (`eth0` inside
 * each host). Everything goes at teardown.
 */
export class Lab {
  private hosts = 0;

  private constructor(
    readonly switchNs: string,
    readonly subnet: string,
  ) {}

  /** Throws when the switch cannot be built. */
  static async create(t: Teardown): Promise<Lab> {
    const sw = await createNetns(t, 'sw');
    await ip(['-n', sw, 'link', 'add', 'lan0', 'type', 'bridge']);
    await ip(['-n', sw, 'link', 'set', 'lan0', 'up']);
    // A /24 per lab keeps parallel labs apart in logs; they never share a switch anyway.
    const third = 1 + Math.floor(Math.random() * 250);
    return new Lab(sw, `10.250.${third}`);
  }

  /** Attaches `netns` (or a new namespace) to the switch with the next address. Throws when ip fails. */
  async addHost(t: Teardown, netns?: string): Promise<LabHost> {
    const n = ++this.hosts;
    const ns = netns ?? (await createNetns(t, `h${n}`));
    const outer = `lab${n}-${Math.random().toString(36).slice(2, 6)}`;
    await ip(['-n', this.switchNs, 'link', 'add', outer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await ip(['-n', this.switchNs, 'link', 'set', outer, 'master', 'lan0', 'up']);
    const addr = `${this.subnet}.${n + 1}`;
    await ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
    await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    return { netns: ns, ip: addr };
  }
}
