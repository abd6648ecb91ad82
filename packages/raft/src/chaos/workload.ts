// Concurrent clients against the KV service, recording what they saw for the
// linearizability checker.
//
// KV clients do put/append/get on a few keys: even keys take appends (so a
// lost acknowledged append shows as a missing token), odd keys take puts.
// Register clients do read/write/cas on one register key. Every value is a
// unique token, so the final state tells which writes took effect.
//
// Outcomes: a response → ok; a write whose outcome is unknown (indeterminate
// error, time-out, broken connection) → info, and the client is replaced by a
// fresh one starting at another member (as Jepsen retires a process); a write
// that certainly did not happen → fail; a failed read → fail (reads change
// nothing, so dropping them is sound).
import type { KvClient } from '../kv/client.js';
import { HistoryRecorder } from '../lincheck/history-recorder.js';
import type { KvInput, KvOutput } from '../lincheck/kv-model.js';
import type { RegisterInput, RegisterOutput, RegisterValue } from '../lincheck/register-model.js';
import type { Prng } from '../sim/prng.js';

export const REGISTER_KEY = 'reg';
const dec = new TextDecoder();

export type Outcome = 'ok' | 'info' | 'fail';

/** Every write any client attempted, with its outcome (the recorder drops failed ones). */
export interface WriteRecord {
  key: string;
  op: 'put' | 'append' | 'write' | 'cas';
  value: string;
  outcome: Outcome;
  call: number;
  /** Infinity unless ok or fail. */
  ret: number;
}

export interface WorkloadOptions {
  /** A new client whose first endpoint is number `first` (mod the member count). */
  newClient: (first: number) => KvClient;
  kvClients: number;
  registerClients: number;
  keys: number;
  rng: Prng;
  /** Pause of each client between operations, ms, to keep histories to a few thousand operations. Default 0. */
  thinkMs?: number;
  /** The time source of the histories (default performance.now). */
  clock?: () => number;
}

export class Workload {
  readonly kv: HistoryRecorder<KvInput, KvOutput>;
  readonly register: HistoryRecorder<RegisterInput, RegisterOutput>;
  readonly writes: WriteRecord[] = [];
  /** Return times of ok operations, in order. */
  readonly okAt: number[] = [];
  readonly keys: string[];
  private readonly clock: () => number;
  private readonly ac = new AbortController();
  private loops: Promise<void>[] = [];
  private replaced = 0;
  private startedAt = 0;

  constructor(private readonly opts: WorkloadOptions) {
    this.clock = opts.clock ?? (() => performance.now());
    this.kv = new HistoryRecorder({ clock: this.clock });
    this.register = new HistoryRecorder({ clock: this.clock });
    this.keys = Array.from({ length: opts.keys }, (_, i) => `k${i}`);
  }

  get started(): number {
    return this.startedAt;
  }

  /** Clients replaced after an unknown outcome. */
  get replacedClients(): number {
    return this.replaced;
  }

  start(): void {
    this.startedAt = this.clock();
    for (let c = 0; c < this.opts.kvClients; c++) this.loops.push(this.kvLoop(c, this.opts.rng.fork()));
    for (let c = 0; c < this.opts.registerClients; c++) this.loops.push(this.registerLoop(this.opts.kvClients + c, this.opts.rng.fork()));
  }

  /** Stops issuing operations and waits for the ones in flight to finish (bounded by the clients' time-outs). */
  async stop(): Promise<void> {
    this.ac.abort();
    await Promise.all(this.loops);
  }

  /** ok operations that returned in [from, to). */
  okBetween(from: number, to: number): number {
    let n = 0;
    for (const t of this.okAt) if (t >= from && t < to) n++;
    return n;
  }

  /** Milliseconds from `t` to the first ok write returning at or after it; undefined when none did. */
  firstOkWriteAfter(t: number): number | undefined {
    let best = Infinity;
    for (const w of this.writes) if (w.outcome === 'ok' && w.ret >= t && w.ret < best) best = w.ret;
    return best === Infinity ? undefined : best - t;
  }

  /** Milliseconds from `t` to the first ok return of a write invoked at or after it; undefined when none. */
  firstOkWriteInvokedAfter(t: number): number | undefined {
    let best = Infinity;
    for (const w of this.writes) if (w.outcome === 'ok' && w.call >= t && w.ret < best) best = w.ret;
    return best === Infinity ? undefined : best - t;
  }

  private async kvLoop(id: number, rng: Prng): Promise<void> {
    let kv = this.opts.newClient(id);
    let seq = 0;
    try {
      while (!this.ac.signal.aborted) {
        await this.think();
        const k = rng.int(this.keys.length);
        const key = this.keys[k]!;
        if (rng.chance(0.5)) {
          const op = this.kv.invoke(id, { op: 'get', key });
          try {
            const r = await kv.get(key);
            this.kv.ok(op, { value: r.value ? dec.decode(r.value) : '' });
            this.okAt.push(this.clock());
          } catch {
            this.kv.fail(op);
          }
          continue;
        }
        const value = `${id}.${seq++};`;
        const kind = k % 2 === 0 ? 'append' : 'put';
        const w: WriteRecord = { key, op: kind, value, outcome: 'info', call: this.clock(), ret: Infinity };
        this.writes.push(w);
        const op = this.kv.invoke(id, { op: kind, key, value });
        try {
          if (kind === 'append') await kv.append(key, value);
          else await kv.put(key, value);
          this.kv.ok(op, {});
          w.outcome = 'ok';
          w.ret = this.clock();
          this.okAt.push(w.ret);
        } catch (err) {
          if (unknownOutcome(err)) {
            this.kv.info(op);
            kv.close();
            kv = this.opts.newClient(id + ++this.replaced);
          } else {
            this.kv.fail(op);
            w.outcome = 'fail';
            w.ret = this.clock();
          }
        }
      }
    } finally {
      kv.close();
    }
  }

  private async registerLoop(id: number, rng: Prng): Promise<void> {
    let kv = this.opts.newClient(id);
    let seq = 0;
    const val = (): number => id * 1_000_000 + seq++;
    try {
      while (!this.ac.signal.aborted) {
        await this.think();
        const dice = rng.int(3);
        if (dice === 0) {
          const op = this.register.invoke(id, { op: 'read' });
          try {
            const r = await kv.get(REGISTER_KEY);
            this.register.ok(op, { value: parseRegister(r.value) });
            this.okAt.push(this.clock());
          } catch {
            this.register.fail(op);
          }
          continue;
        }
        // cas from a value likely to be current: the last one this client read or wrote is a fair guess.
        const value = val();
        const input: RegisterInput = dice === 1 ? { op: 'write', value } : { op: 'cas', from: this.lastRegister, to: value };
        const w: WriteRecord = { key: REGISTER_KEY, op: input.op === 'write' ? 'write' : 'cas', value: String(value), outcome: 'info', call: this.clock(), ret: Infinity };
        this.writes.push(w);
        const op = this.register.invoke(id, input);
        try {
          let out: RegisterOutput = {};
          if (input.op === 'write') {
            await kv.put(REGISTER_KEY, String(value));
            this.lastRegister = value;
          } else if (input.op === 'cas') {
            const from = input.from;
            const r = await kv.cas(REGISTER_KEY, from === null ? undefined : String(from), String(value));
            out = { ok: r.succeeded };
            this.lastRegister = r.succeeded ? value : parseRegister(r.current);
          }
          this.register.ok(op, out);
          w.outcome = 'ok';
          w.ret = this.clock();
          this.okAt.push(w.ret);
        } catch (err) {
          if (unknownOutcome(err)) {
            this.register.info(op);
            kv.close();
            kv = this.opts.newClient(id + ++this.replaced);
          } else {
            this.register.fail(op);
            w.outcome = 'fail';
            w.ret = this.clock();
          }
        }
      }
    } finally {
      kv.close();
    }
  }

  private async think(): Promise<void> {
    const ms = this.opts.thinkMs ?? 0;
    if (ms > 0) await new Promise<void>((r) => setTimeout(r, ms));
  }

  /** Shared by the register clients: a recent value, so some cas calls succeed. */
  private lastRegister: RegisterValue = null;
}

export function parseRegister(v: Uint8Array | undefined): RegisterValue {
  return v === undefined ? null : Number(dec.decode(v));
}

/** True unless the error says the write certainly did not take effect. */
export function unknownOutcome(err: unknown): boolean {
  const e = err as { code?: unknown; indeterminate?: unknown };
  if (typeof e.code !== 'string') return true;
  if (e.indeterminate === true) return true;
  return e.code === 'DeadlineExceeded' || e.code === 'Canceled';
}
