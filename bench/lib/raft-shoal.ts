// Shoal's replicated KV service (packages/raft/src/kv) as 3 processes on
// loopback, with the WAL's fdatasync on (it has no off switch), for the raft bench.
import { KvClient } from '@shoal/raft/kv/client';
import type { KvStatusResponse } from '@shoal/raft/kv/kv-proto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './paths.js';
import { CAUGHT_UP_LAG, freePorts, MemberGroup, MemberProcess, pollUntil, type BenchClient, type BenchCluster, type ClientMode } from './raft-cluster.js';

export const KV_SERVER_MAIN = join(REPO, 'packages/raft/dist/kv/server.js');

export interface ShoalClusterOptions {
  size?: number;
  /** Extra flags for every member (e.g. ["--tick-ms", "50"]). */
  extraArgs?: string[];
  /** Flags for node itself, before the script (e.g. ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"] to profile the members). */
  nodeArgs?: string[];
  /** Where the temp data dir goes (default the OS temp dir). */
  parentDir?: string;
}

export class ShoalCluster implements BenchCluster {
  readonly name = 'shoal';
  readonly size: number;
  private readonly group = new MemberGroup();
  private readonly members = this.group.members;
  private readonly ids: string[];
  private clientAddrs: string[] = [];
  private admin?: KvClient;

  private constructor(
    readonly dir: string,
    private readonly o: ShoalClusterOptions,
  ) {
    this.size = o.size ?? 3;
    this.ids = Array.from({ length: this.size }, (_, i) => `n${i + 1}`);
  }

  get description(): string {
    const extra = this.o.extraArgs?.length ? ` ${this.o.extraArgs.join(' ')}` : ' (defaults: tick 100 ms, election 10 ticks, heartbeat 1 tick)';
    return `shoal: ${this.size} × node packages/raft/dist/kv/server.js${extra}, WAL fdatasync per batch`;
  }

  /** Creates the data dirs; throws when the KV server is not built. */
  static async create(o: ShoalClusterOptions = {}): Promise<ShoalCluster> {
    if (!existsSync(KV_SERVER_MAIN)) throw new Error(`${KV_SERVER_MAIN} is missing: build first with \`npx tsc -b\`.`);
    return new ShoalCluster(await mkdtemp(join(o.parentDir ?? tmpdir(), 'shoal-bench-raft-')), o);
  }

  async start(signal?: AbortSignal): Promise<void> {
    const ports = await freePorts(this.size * 2);
    const raftAddrs = this.ids.map((_, i) => `127.0.0.1:${ports[i]}`);
    this.clientAddrs = this.ids.map((_, i) => `127.0.0.1:${ports[this.size + i]}`);
    const peers = this.ids.map((id, i) => `${id}=${raftAddrs[i]}`).join(',');
    const peerClients = this.ids.map((id, i) => `${id}=${this.clientAddrs[i]}`).join(',');
    for (const [i, id] of this.ids.entries()) {
      const data = join(this.dir, id);
      await mkdir(data, { recursive: true });
      const args = [...(this.o.nodeArgs ?? []), KV_SERVER_MAIN, '--id', id, '--listen', raftAddrs[i] ?? '', '--client', this.clientAddrs[i] ?? '', '--data', data];
      args.push('--peers', peers, '--peer-clients', peerClients, '--log-level', 'warn', ...(this.o.extraArgs ?? []));
      this.members.push(new MemberProcess(process.execPath, args, join(this.dir, `${id}.log`)));
    }
    this.admin = new KvClient({ endpoints: this.clientAddrs, attemptTimeoutMs: 1_000, timeoutMs: 1_000 });
    for (const m of this.members) await m.spawn();
    try {
      await this.leader(signal, 30_000);
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${await this.logs()}`, { cause: e });
    }
  }

  private async statuses(): Promise<(KvStatusResponse | undefined)[]> {
    const admin = this.admin;
    if (!admin) throw new Error('The shoal cluster is not started.');
    return Promise.all(
      this.clientAddrs.map((ep, i) => (this.members[i]?.running ? admin.status(ep, { timeoutMs: 1_000 }).catch(() => undefined) : Promise.resolve(undefined))),
    );
  }

  async leader(signal?: AbortSignal, timeoutMs = 15_000): Promise<number> {
    return pollUntil(
      'shoal has no leader that every live member follows',
      async () => {
        const st = await this.statuses();
        const live = st.filter((s): s is KvStatusResponse => s !== undefined);
        const lead = live.find((s) => s.state === 'Leader');
        if (!lead || live.some((s) => s.leader_id !== lead.id || s.term !== lead.term)) return undefined;
        return this.ids.indexOf(lead.id);
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
    await this.group.respawn(i, signal);
  }

  async waitHealthy(signal?: AbortSignal, timeoutMs = 60_000): Promise<void> {
    await pollUntil(
      'shoal members did not all come back and catch up',
      async () => {
        const st = await this.statuses();
        if (st.some((s) => s === undefined)) return undefined;
        const all = st as KvStatusResponse[];
        const lead = all.find((s) => s.state === 'Leader');
        if (!lead || all.some((s) => s.leader_id !== lead.id || lead.commit - s.applied > CAUGHT_UP_LAG)) return undefined;
        return true;
      },
      timeoutMs,
      signal,
      200,
    );
  }

  async client(mode: ClientMode, signal?: AbortSignal): Promise<BenchClient> {
    let endpoints = this.clientAddrs;
    if (mode === 'leader') {
      const l = await this.leader(signal);
      endpoints = [this.clientAddrs[l] ?? '', ...this.clientAddrs.filter((_, i) => i !== l)];
    }
    // The benchmark only counts acknowledged writes, so retrying a write whose outcome is unknown is fine.
    const kv = new KvClient({ endpoints, retryIndeterminate: true });
    return {
      put: async (key, value, s) => {
        await kv.put(key, value, { signal: s });
      },
      close: () => kv.close(),
    };
  }

  private async logs(): Promise<string> {
    const parts = await Promise.all(this.members.map(async (m, i) => `--- ${this.ids[i]} log (tail) ---\n${await m.tail()}`));
    return parts.join('\n');
  }

  async destroy(): Promise<void> {
    this.admin?.close();
    await Promise.all(this.members.map((m) => m.stop()));
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
