// A 3-member etcd on loopback for the raft bench, run the way Shoal's KV
// service is: separate processes, data dirs in a temp dir, fsync on (etcd's
// default; it has no switch for it in 3.4), the same election and heartbeat
// timing (etcd's defaults of 100 ms heartbeat and 1,000 ms election equal
// Shoal's 1-tick heartbeat and 10-tick election at 100 ms ticks).
// Driven through the `etcd3` npm client over etcd's gRPC KV API.
import { Etcd3, type IStatusResponse } from 'etcd3';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CAUGHT_UP_LAG, freePorts, MemberGroup, MemberProcess, pollUntil, type BenchClient, type BenchCluster, type ClientMode } from './raft-cluster.js';

const execFileP = promisify(execFile);
const ETCD_BIN = process.env.ETCD_BIN ?? 'etcd';
/** Per-call deadline: the same as KvClient's per-attempt deadline, so a call stuck on a dead member gives up as soon on both sides. */
const CALL_TIMEOUT_MS = 2_000;

/** The installed etcd's version line ("3.4.23"), or undefined when there is no etcd binary. */
export async function etcdVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await execFileP(ETCD_BIN, ['--version'], { timeout: 10_000 });
    return /etcd Version:\s*(\S+)/.exec(stdout)?.[1] ?? stdout.split('\n')[0];
  } catch {
    return undefined;
  }
}

function etcdClient(hosts: string[]): Etcd3 {
  return new Etcd3({
    hosts,
    // etcd3 sets no deadline by default.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
  });
}

export class EtcdCluster implements BenchCluster {
  readonly name = 'etcd';
  readonly size: number;
  private readonly group = new MemberGroup();
  private readonly members = this.group.members;
  private readonly names: string[];
  private clientUrls: string[] = [];
  /** One client per member for status calls, so a dead member's breaker never blocks the others. */
  private admins: Etcd3[] = [];
  /** etcd's member id (decimal string) → member index. */
  private readonly memberIndex = new Map<string, number>();

  private constructor(
    readonly dir: string,
    readonly version: string,
    size: number,
  ) {
    this.size = size;
    this.names = Array.from({ length: size }, (_, i) => `e${i + 1}`);
  }

  get description(): string {
    return `etcd ${this.version}: ${this.size} members, default settings (heartbeat 100 ms, election 1000 ms, fsync on, snapshot-count 100000)`;
  }

  /** Creates a temp dir under `parentDir` (default the OS temp dir); throws when there is no etcd binary. */
  static async create(size = 3, parentDir = tmpdir()): Promise<EtcdCluster> {
    const v = await etcdVersion();
    if (v === undefined) throw new Error(`No etcd binary (${ETCD_BIN}): install it with \`apt-get install -y etcd-server\`.`);
    return new EtcdCluster(await mkdtemp(join(parentDir, 'shoal-bench-etcd-')), v, size);
  }

  async start(signal?: AbortSignal): Promise<void> {
    const ports = await freePorts(this.size * 2);
    const peerUrls = this.names.map((_, i) => `http://127.0.0.1:${ports[i]}`);
    this.clientUrls = this.names.map((_, i) => `http://127.0.0.1:${ports[this.size + i]}`);
    const initial = this.names.map((n, i) => `${n}=${peerUrls[i]}`).join(',');
    for (const [i, name] of this.names.entries()) {
      const args = ['--name', name, '--data-dir', join(this.dir, name)];
      args.push('--listen-peer-urls', peerUrls[i] ?? '', '--initial-advertise-peer-urls', peerUrls[i] ?? '');
      args.push('--listen-client-urls', this.clientUrls[i] ?? '', '--advertise-client-urls', this.clientUrls[i] ?? '');
      args.push('--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `shoal-bench-${process.pid}`);
      args.push('--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'warn');
      this.members.push(new MemberProcess(ETCD_BIN, args, join(this.dir, `${name}.log`)));
    }
    this.admins = this.clientUrls.map((u) => etcdClient([u]));
    for (const m of this.members) await m.spawn();
    try {
      await this.leader(signal, 30_000);
    } catch (e) {
      const logs = await Promise.all(this.members.map(async (m, i) => `--- ${this.names[i]} log (tail) ---\n${await m.tail()}`));
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${logs.join('\n')}`, { cause: e });
    }
  }

  private async statuses(): Promise<(IStatusResponse | undefined)[]> {
    return Promise.all(
      this.admins.map(async (a, i) => {
        if (!this.members[i]?.running) return undefined;
        const s = await a.maintenance.status({ deadline: Date.now() + 1_000 }).catch(() => undefined);
        if (s) this.memberIndex.set(s.header.member_id, i);
        return s;
      }),
    );
  }

  async leader(signal?: AbortSignal, timeoutMs = 15_000): Promise<number> {
    return pollUntil(
      'etcd has no leader that every live member follows',
      async () => {
        const live = (await this.statuses()).filter((s): s is IStatusResponse => s !== undefined);
        const lead = live.find((s) => s.leader !== '0' && s.leader === s.header.member_id);
        if (!lead || live.some((s) => s.leader !== lead.leader)) return undefined;
        return this.memberIndex.get(lead.leader);
      },
      timeoutMs,
      signal,
    );
  }

  pids(): number[] {
    return this.group.pids();
  }

  kill(i: number): void {
    this.group.kill(i);
  }

  async restart(i: number, signal?: AbortSignal): Promise<void> {
    await this.group.respawn(i, signal, () => {
      // A fresh status client: the old one's circuit breaker has opened on the dead member.
      this.admins[i]?.close();
      this.admins[i] = etcdClient([this.clientUrls[i] ?? '']);
    });
  }

  async waitHealthy(signal?: AbortSignal, timeoutMs = 60_000): Promise<void> {
    await pollUntil(
      'etcd members did not all come back and catch up',
      async () => {
        const st = await this.statuses();
        if (st.some((s) => s === undefined)) return undefined;
        const all = st as IStatusResponse[];
        const lead = all.find((s) => s.leader !== '0' && s.leader === s.header.member_id);
        if (!lead) return undefined;
        const commit = Number(lead.raftIndex);
        if (all.some((s) => s.leader !== lead.leader || commit - Number(s.raftAppliedIndex || s.raftIndex) > CAUGHT_UP_LAG)) return undefined;
        return true;
      },
      timeoutMs,
      signal,
      200,
    );
  }

  async client(mode: ClientMode, signal?: AbortSignal): Promise<BenchClient> {
    let hosts = this.clientUrls;
    if (mode === 'leader') hosts = [this.clientUrls[await this.leader(signal)] ?? ''];
    const etcd = etcdClient(hosts);
    return {
      put: async (key, value) => {
        await etcd.kv.put({ key: Buffer.from(key), value: Buffer.from(value.buffer, value.byteOffset, value.byteLength) });
      },
      close: () => etcd.close(),
    };
  }

  async destroy(): Promise<void> {
    for (const a of this.admins) a.close();
    await Promise.all(this.members.map((m) => m.stop()));
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
