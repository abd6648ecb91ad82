// In-process clusters of ClusterRaft members for tests: LocalNetwork links,
// real data directories under a temp root, short ticks.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalNetwork } from '@shoal/raft';
import type { Peer } from '@shoal/raft';
import { ClusterRaft } from './cluster-raft.js';
import type { ClusterRaftOptions } from './cluster-raft.js';

export const TICK_MS = 20;
export const ELECTION_TICK = 10;

export class TestCluster {
  readonly net = new LocalNetwork();
  readonly members = new Map<string, ClusterRaft>();

  private constructor(
    readonly root: string,
    readonly ids: string[],
    readonly extra: Partial<ClusterRaftOptions>,
  ) {}

  /** Starts members `ids` (default m1..m3), each with its own data directory. */
  static async start(
    ids = ['m1', 'm2', 'm3'],
    extra: Partial<ClusterRaftOptions> = {},
    perMember: (id: string) => Partial<ClusterRaftOptions> = () => ({}),
  ): Promise<TestCluster> {
    const root = await mkdtemp(join(tmpdir(), 'shoal-store-raft-'));
    const c = new TestCluster(root, ids, extra);
    for (const id of ids) await c.startMember(id, perMember(id));
    return c;
  }

  peers(): Peer[] {
    return this.ids.map((id) => ({ id, addr: `local:${id}` }));
  }

  dataDir(id: string): string {
    return join(this.root, id);
  }

  async startMember(id: string, extra: Partial<ClusterRaftOptions> = {}): Promise<ClusterRaft> {
    const m = await ClusterRaft.start({
      id,
      dataDir: this.dataDir(id),
      peers: this.peers(),
      transport: this.net.transport(id),
      tickMs: TICK_MS,
      electionTick: ELECTION_TICK,
      ...this.extra,
      ...extra,
    });
    this.members.set(id, m);
    return m;
  }

  async stopMember(id: string): Promise<void> {
    const m = this.members.get(id);
    this.members.delete(id);
    await m?.stop();
  }

  member(id: string): ClusterRaft {
    const m = this.members.get(id);
    if (!m) throw new Error(`member ${id} is not running`);
    return m;
  }

  /** Waits for exactly one running member to announce leadership and returns it. */
  async leader(timeoutMs = 5_000, among?: string[]): Promise<ClusterRaft> {
    let found: ClusterRaft | undefined;
    await waitFor(
      () => {
        const ls = [...this.members.values()].filter((m) => (!among || among.includes(m.id)) && m.isLeader());
        found = ls.length === 1 ? ls[0] : undefined;
        return found !== undefined;
      },
      timeoutMs,
      'a leader',
    );
    return found as ClusterRaft;
  }

  followers(leader: ClusterRaft): ClusterRaft[] {
    return [...this.members.values()].filter((m) => m !== leader);
  }

  /** Waits until every running member has applied up to `index`. */
  async converge(index: number, timeoutMs = 5_000): Promise<void> {
    await waitFor(
      () => [...this.members.values()].every((m) => m.status().applied >= index),
      timeoutMs,
      `every member to apply index ${index}`,
    );
  }

  async stopAll(): Promise<void> {
    for (const id of [...this.members.keys()]) await this.stopMember(id);
  }

  async destroy(): Promise<void> {
    await this.stopAll();
    await rm(this.root, { recursive: true, force: true });
  }
}

/** Polls `cond` every 5 ms; rejects naming `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Bytes equal? (Buffer.equals without the copy.) */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
