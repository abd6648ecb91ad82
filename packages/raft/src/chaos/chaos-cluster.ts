// A cluster of real KV server processes on loopback for the chaos tests.
//
// Every Raft link goes through a LinkProxy per direction (member A dials B at
// proxy "A->B"), so a partition is a set of cut proxies and never touches the
// host's network configuration. Clients talk to the members' KV ports
// directly. Processes are killed with SIGKILL (no clean shutdown), paused
// with SIGSTOP, and restarted on the same data directory.
//
// Caveat: member addresses replicated inside Raft (a joining member's address
// in its conf change, the address book inside snapshots) are one address for
// every member, so links to a member added at run time, or learnt from a
// snapshot, go through one shared inbound proxy rather than one per direction.
// The partition scenarios use founding members and no snapshots.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, appendFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Prng } from '../sim/prng.js';
import { KvClient } from '../kv/client.js';
import type { KvStatusResponse } from '../kv/kv-proto.js';
import { RECORD_HEADER_BYTES, scanSegment } from '../storage/record.js';
import { LinkProxy } from './link-proxy.js';

const SERVER = fileURLToPath(new URL('../kv/server.js', import.meta.url));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A free loopback port below the kernel's ephemeral range. A member keeps its
 * ports across restarts, and a port from the ephemeral range can be taken by
 * some outgoing connection while the member is down (EADDRINUSE on restart).
 */
const handedOut = new Set<number>();
async function memberPort(): Promise<number> {
  let low = 32768;
  try {
    low = Number((await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/)[0]) || low;
  } catch {
    // Not Linux: keep the usual bound.
  }
  const from = 10_000;
  const span = Math.max(1_000, low - from);
  for (let i = 0; i < 100; i++) {
    const port = from + Math.floor(Math.random() * span);
    if (handedOut.has(port)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('Found no free loopback port below the ephemeral range after 100 tries.');
}

// Member processes still running when the test process exits (a time-out, a
// crash) would outlive it: kill them on the way out (exit handlers must be synchronous).
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) {
    c.kill('SIGCONT');
    c.kill('SIGKILL');
  }
});

export interface ChaosClusterOptions {
  size: number;
  /** Milliseconds per Raft tick. Default 50 (fast fail-over). */
  tickMs?: number;
  /** Default 10. */
  electionTick?: number;
  /** Default the server's (10,000). */
  snapshotEvery?: number;
  snapshotCatchUp?: number;
  /** Where test progress goes (t.log). */
  log?: (msg: string) => void;
}

export interface ChaosMember {
  readonly id: string;
  readonly raftAddr: string;
  readonly clientAddr: string;
  readonly dataDir: string;
  args: string[];
  child: ChildProcess | undefined;
  paused: boolean;
  /** The last few KB of its stderr (JSON log lines), kept across restarts. */
  stderr: string;
  /** How many times it reported cutting a torn WAL tail on start. */
  tornRepairs: number;
}

/** How the crash tore the WAL's last write (see tearWalTail). */
export type TornTail = 'partial-record' | 'garbled-record' | 'zeroes';

export class ChaosCluster {
  readonly members = new Map<string, ChaosMember>();
  /** Directed links, keyed "from->to". */
  readonly links = new Map<string, LinkProxy>();
  /** One inbound proxy per member added at run time (see the file comment). */
  private readonly inbound = new Map<string, LinkProxy>();
  private readonly log: (msg: string) => void;
  private closed = false;

  private constructor(
    readonly root: string,
    private readonly opts: ChaosClusterOptions,
  ) {
    this.log = opts.log ?? (() => undefined);
  }

  /** Starts `size` members and waits until one leads. Throws (after cleaning up) when a member does not start. */
  static async start(opts: ChaosClusterOptions): Promise<ChaosCluster> {
    const root = await mkdtemp(join(tmpdir(), 'shoal-chaos-'));
    const c = new ChaosCluster(root, opts);
    try {
      const ids = Array.from({ length: opts.size }, (_, i) => `n${i + 1}`);
      const raft: number[] = [];
      const client: number[] = [];
      for (const _ of ids) {
        raft.push(await memberPort());
        client.push(await memberPort());
      }
      ids.forEach((id, i) => {
        c.members.set(id, {
          id,
          raftAddr: `127.0.0.1:${raft[i]}`,
          clientAddr: `127.0.0.1:${client[i]}`,
          dataDir: join(root, id),
          args: [],
          child: undefined,
          paused: false,
          stderr: '',
          tornRepairs: 0,
        });
      });
      for (const a of ids) for (const b of ids) if (a !== b) await c.link(a, b, c.members.get(b)!.raftAddr);
      const peerClients = ids.map((id) => `${id}=${c.members.get(id)!.clientAddr}`).join(',');
      for (const id of ids) {
        const m = c.members.get(id)!;
        const peers = ids.map((p) => `${p}=${p === id ? m.raftAddr : c.links.get(`${id}->${p}`)!.addr}`).join(',');
        m.args = c.serverArgs(m, peers, peerClients, false);
      }
      await Promise.all(ids.map((id) => c.launch(id)));
      await c.leader(10_000);
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  /** KV API addresses of the members, founding and added. */
  get endpoints(): string[] {
    return [...this.members.values()].map((m) => m.clientAddr);
  }

  /** Members whose process runs and is not paused. */
  get live(): string[] {
    return [...this.members.values()].filter((m) => m.child && !m.paused).map((m) => m.id);
  }

  // ---- processes ----

  /** SIGKILL, and wait for the exit. */
  async kill(id: string): Promise<void> {
    const m = this.member(id);
    const child = m.child;
    if (!child) return;
    m.child = undefined;
    m.paused = false;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await exited;
    this.log(`kill -9 ${id}`);
  }

  /** Starts a killed member again on its data directory. Throws when it does not get ready. */
  async restart(id: string): Promise<void> {
    if (this.member(id).child) throw new Error(`Member ${id} is still running; kill it first.`);
    await this.launch(id);
    this.log(`restarted ${id}`);
  }

  pause(id: string): void {
    const m = this.member(id);
    m.child?.kill('SIGSTOP');
    m.paused = true;
    this.log(`SIGSTOP ${id}`);
  }

  resume(id: string): void {
    const m = this.member(id);
    m.child?.kill('SIGCONT');
    m.paused = false;
    this.log(`SIGCONT ${id}`);
  }

  // ---- network ----

  /** Cuts every link between `group` and the other members, both ways. */
  isolate(group: readonly string[]): void {
    const inside = new Set(group);
    for (const [key, p] of this.links) {
      const [a, b] = key.split('->') as [string, string];
      if (inside.has(a) !== inside.has(b)) p.cut();
    }
    for (const [id, p] of this.inbound) if (inside.has(id)) p.cut();
    this.log(`partition: [${group.join(',')}] | rest`);
  }

  heal(): void {
    for (const p of this.links.values()) p.heal();
    for (const p of this.inbound.values()) p.heal();
    this.log('healed every link');
  }

  /** Delays every link by `ms` each way (0 = none). */
  setDelay(ms: number): void {
    for (const p of this.links.values()) p.setDelay(ms);
    for (const p of this.inbound.values()) p.setDelay(ms);
  }

  // ---- status ----

  /** One member's status, or undefined when it does not answer quickly. */
  async status(id: string, kv: KvClient): Promise<KvStatusResponse | undefined> {
    const m = this.member(id);
    if (!m.child || m.paused) return undefined;
    return kv.status(m.clientAddr, { timeoutMs: 1_000 }).catch(() => undefined);
  }

  /**
   * Waits for a leader that a majority of the live members answering agree
   * on, and returns its ID. Throws after `timeoutMs`.
   */
  async leader(timeoutMs: number, kv?: KvClient): Promise<string> {
    const own = kv ?? this.client();
    try {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const sts = (await Promise.all(this.live.map((id) => this.status(id, own)))).filter((s) => s !== undefined);
        const leaders = sts.filter((s) => s.state === 'Leader').sort((a, b) => b.term - a.term);
        const top = leaders[0];
        if (top && sts.filter((s) => s.leader_id === top.id && s.term === top.term).length > top.voters.length / 2) return top.id;
        if (Date.now() > end) throw new Error(`No leader within ${timeoutMs} ms (members answering: ${sts.map((s) => `${s.id}:${s.state}@${s.term}`).join(' ')}).`);
        await sleep(50);
      }
    } finally {
      if (!kv) own.close();
    }
  }

  /**
   * Waits until every live member in the configuration answers with the same
   * applied index and state hash. Returns their statuses; throws after
   * `timeoutMs` naming what differed.
   */
  async converged(timeoutMs: number): Promise<KvStatusResponse[]> {
    const kv = this.client();
    try {
      const end = Date.now() + timeoutMs;
      let last = '';
      for (;;) {
        const sts = await Promise.all(this.live.map((id) => this.status(id, kv)));
        const ok = sts.filter((s) => s !== undefined);
        const config = new Set(ok.flatMap((s) => (s.state === 'Leader' ? [...s.voters, ...s.learners] : [])));
        const inConfig = config.size === 0 ? ok : ok.filter((s) => config.has(s.id));
        if (ok.length === sts.length && config.size > 0) {
          if (new Set(inConfig.map((s) => s.applied)).size === 1 && new Set(inConfig.map((s) => s.state_hash)).size === 1) return inConfig;
        }
        last = sts.map((s, i) => (s ? `${s.id}: applied ${s.applied} hash ${s.state_hash.slice(0, 8)} ${s.state}` : `${this.live[i]}: no answer`)).join('; ');
        if (Date.now() > end) throw new Error(`The replicas did not converge within ${timeoutMs} ms: ${last}`);
        await sleep(100);
      }
    } finally {
      kv.close();
    }
  }

  /** A client over every member's KV address. */
  client(opts: { attemptTimeoutMs?: number; timeoutMs?: number; first?: number } = {}): KvClient {
    const eps = this.endpoints;
    const k = (opts.first ?? 0) % eps.length;
    return new KvClient({
      endpoints: [...eps.slice(k), ...eps.slice(0, k)],
      attemptTimeoutMs: opts.attemptTimeoutMs ?? 1_000,
      timeoutMs: opts.timeoutMs ?? 3_000,
    });
  }

  // ---- membership ----

  /**
   * Starts a new member with --join and asks the leader to add it (as a
   * learner, then a voter once caught up). Throws when it cannot start or the
   * change fails.
   */
  async addMember(id: string, kv: KvClient): Promise<void> {
    if (this.members.has(id)) throw new Error(`Member ${id} exists already.`);
    const [raftPort, clientPort] = [await memberPort(), await memberPort()];
    const m: ChaosMember = {
      id,
      raftAddr: `127.0.0.1:${raftPort}`,
      clientAddr: `127.0.0.1:${clientPort}`,
      dataDir: join(this.root, id),
      args: [],
      child: undefined,
      paused: false,
      stderr: '',
      tornRepairs: 0,
    };
    const inbound = new LinkProxy({ target: m.raftAddr, name: `*->${id}` });
    await inbound.start();
    this.inbound.set(id, inbound);
    const others = [...this.members.values()];
    for (const o of others) await this.link(id, o.id, o.raftAddr);
    this.members.set(id, m);
    const peers = [`${id}=${m.raftAddr}`, ...others.map((o) => `${o.id}=${this.links.get(`${id}->${o.id}`)!.addr}`)].join(',');
    const peerClients = [...this.members.values()].map((x) => `${x.id}=${x.clientAddr}`).join(',');
    m.args = this.serverArgs(m, peers, peerClients, true);
    await this.launch(id);
    await kv.addMember(id, inbound.addr, m.clientAddr, { timeoutMs: 15_000 });
    this.log(`added ${id}`);
  }

  /** Asks the leader to remove `id`, then kills its process. Throws when the change fails. */
  async removeMember(id: string, kv: KvClient): Promise<void> {
    await kv.removeMember(id, { timeoutMs: 10_000 });
    this.log(`removed ${id}`);
    await this.kill(id);
    this.members.delete(id);
    for (const [key, p] of this.links) {
      if (key.startsWith(`${id}->`) || key.endsWith(`->${id}`)) {
        this.links.delete(key);
        await p.close();
      }
    }
  }

  // ---- disk ----

  /**
   * Simulates a crash in the middle of the member's last WAL write: bytes that
   * were never fsynced are garbage or missing. The member must be killed.
   * Only bytes past the last fsync are touched (what was synced may have been
   * acknowledged, and Raft assumes it survives): the tail gets
   *  - 'partial-record': a prefix of a record frame (header promising more
   *    bytes than follow), as when the write stopped part-way;
   *  - 'garbled-record': a whole frame whose payload has a flipped byte, as
   *    when the sectors of a write landed out of order;
   *  - 'zeroes': a zero-filled extent, as when the file grew but the data
   *    never arrived.
   * Returns the segment's path and the bytes added. Throws when the member runs.
   */
  async tearWalTail(id: string, how: TornTail, rng: Prng): Promise<{ file: string; added: number }> {
    const m = this.member(id);
    if (m.child) throw new Error(`Member ${id} is running; kill it before damaging its WAL.`);
    const dir = join(m.dataDir, 'wal');
    const segs = (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
    const name = segs[segs.length - 1];
    if (!name) throw new Error(`Member ${id} has no WAL segment in ${dir}.`);
    const file = join(dir, name);
    const buf = await readFile(file);
    const seq = parseInt(name.slice(0, 16), 16);
    const scan = scanSegment(buf, seq);
    const lastRec = scan.records[scan.records.length - 1];
    // A frame like the last one (the next write would look much like it).
    const frame = lastRec
      ? Buffer.from(buf.subarray(lastRec.offset, lastRec.offset + RECORD_HEADER_BYTES + lastRec.payload.length))
      : Buffer.alloc(64, 1);
    let tail: Buffer;
    if (how === 'partial-record') {
      tail = frame.subarray(0, 1 + rng.int(Math.max(1, frame.length - 1)));
    } else if (how === 'garbled-record') {
      tail = Buffer.from(frame);
      const at = frame.length > RECORD_HEADER_BYTES ? RECORD_HEADER_BYTES + rng.int(frame.length - RECORD_HEADER_BYTES) : 4;
      tail[at] = (tail[at] ?? 0) ^ 0xff;
    } else {
      tail = Buffer.alloc(512 * (1 + rng.int(8)));
    }
    await appendFile(file, tail);
    this.log(`tore the WAL tail of ${id} (${how}): ${tail.length} bytes after offset ${buf.length} of ${name}`);
    return { file, added: tail.length };
  }

  // ---- teardown ----

  /** Resumes paused members, kills every process, closes the proxies and removes the data. Never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const m of this.members.values()) {
      if (m.paused) m.child?.kill('SIGCONT');
    }
    await Promise.all([...this.members.keys()].map((id) => this.kill(id).catch(() => undefined)));
    await Promise.all([...this.links.values(), ...this.inbound.values()].map((p) => p.close().catch(() => undefined)));
    await rm(this.root, { recursive: true, force: true }).catch(() => undefined);
  }

  /** The last stderr lines of every member, for a failure report. */
  logs(): string {
    return [...this.members.values()].map((m) => `--- ${m.id}\n${m.stderr}`).join('\n');
  }

  // ---- internals ----

  private member(id: string): ChaosMember {
    const m = this.members.get(id);
    if (!m) throw new Error(`No member ${id} in this cluster.`);
    return m;
  }

  private async link(from: string, to: string, target: string): Promise<void> {
    const p = new LinkProxy({ target, name: `${from}->${to}` });
    await p.start();
    this.links.set(`${from}->${to}`, p);
  }

  private serverArgs(m: ChaosMember, peers: string, peerClients: string, join: boolean): string[] {
    const o = this.opts;
    const args = [
      '--id', m.id,
      '--listen', m.raftAddr,
      '--client', m.clientAddr,
      '--data', m.dataDir,
      '--peers', peers,
      '--peer-clients', peerClients,
      '--tick-ms', String(o.tickMs ?? 50),
      '--election-tick', String(o.electionTick ?? 10),
      '--log-level', 'warn',
    ];
    if (o.snapshotEvery !== undefined) args.push('--snapshot-every', String(o.snapshotEvery));
    if (o.snapshotCatchUp !== undefined) args.push('--snapshot-catch-up', String(o.snapshotCatchUp));
    if (join) args.push('--join');
    return args;
  }

  private launch(id: string): Promise<void> {
    const m = this.member(id);
    const child = spawn(process.execPath, [SERVER, ...m.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    child.once('exit', () => running.delete(child));
    m.child = child;
    m.paused = false;
    child.stderr.on('data', (b: Buffer) => {
      const text = b.toString();
      if (text.includes('Cut a torn record')) m.tornRepairs++;
      m.stderr = (m.stderr + text).slice(-6000);
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Member ${id} did not get ready in 10 s: ${m.stderr}`)), 10_000);
      const onExit = (code: number | null, sig: string | null) => {
        clearTimeout(timer);
        if (m.child === child) m.child = undefined;
        reject(new Error(`Member ${id} exited (${code ?? sig}) before it was ready: ${m.stderr}`));
      };
      child.once('exit', onExit);
      createInterface({ input: child.stdout }).on('line', (line) => {
        let ev: { event?: string };
        try {
          ev = JSON.parse(line) as { event?: string };
        } catch {
          return;
        }
        if (ev.event !== 'ready') return;
        clearTimeout(timer);
        child.off('exit', onExit);
        child.once('exit', (code, sig) => {
          if (m.child === child) {
            m.child = undefined;
            this.log(`member ${id} exited on its own (${code ?? sig})`);
          }
        });
        resolve();
      });
    });
  }
}
