// A client for the KV service with leader discovery and retries, for tests,
// the chaos suite and the benchmark.
//
// Writes go to the member believed to lead; a NotLeader answer redirects to
// the leader it names (its client address), else the next endpoint is tried.
// Failures that certainly did not apply a write (NotLeader before the leader
// accepted it, a connection that never opened) are retried until the call's
// time budget runs out. A write whose outcome is unknown (indeterminate: the
// leader lost leadership after accepting it, the connection dropped, the
// attempt timed out) is thrown as a KvError with `indeterminate: true`, unless
// `retryIndeterminate` is set: a history checker must record it as unknown.
// Reads are always retried (they change nothing).
import * as grpc from '@grpc/grpc-js';
import { KvError, fromGrpcError } from './kv-errors.js';
import type {
  KvCasResponse,
  KvGetResponse,
  KvMemberResponse,
  KvMethod,
  KvStatusResponse,
  KvWriteResponse,
} from './kv-proto.js';
import { kvServiceDefinition } from './kv-proto.js';

export { KvError } from './kv-errors.js';

export interface KvClientOptions {
  /** KV API addresses (host:port) of some or all members. */
  endpoints: string[];
  /** Deadline of one attempt. Default 2,000 ms. */
  attemptTimeoutMs?: number;
  /** Total time one call may take, retries included. Default 10,000 ms. */
  timeoutMs?: number;
  /** Retry writes whose outcome is unknown (fine for benchmarks, wrong for histories). Default false. */
  retryIndeterminate?: boolean;
  /** Default insecure. */
  credentials?: grpc.ChannelCredentials;
}

export interface KvCallOptions {
  signal?: AbortSignal;
  /** Overrides KvClientOptions.timeoutMs for this call. */
  timeoutMs?: number;
  /** Send to this endpoint only: no redirects, no retries. */
  endpoint?: string;
}

export interface KvGetResult {
  value: Uint8Array | undefined;
  /** The serving member's applied index. */
  index: number;
}

export interface KvCasOutcome {
  succeeded: boolean;
  /** The value the comparison saw; undefined when the key was missing. */
  current: Uint8Array | undefined;
  index: number;
}

type Bytes = Uint8Array | string;
const enc = new TextEncoder();
const bytes = (v: Bytes): Uint8Array => (typeof v === 'string' ? enc.encode(v) : v);
const RETRYABLE = new Set(['NotLeader', 'Unavailable', 'DeadlineExceeded', 'Canceled']);
/** The longest pause between retries (before jitter). */
const MAX_RETRY_WAIT_MS = 100;

function reasonOf(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new DOMException('The operation was aborted.', 'AbortError');
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(reasonOf(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(reasonOf(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class KvClient {
  private readonly endpoints: string[];
  private readonly clients = new Map<string, grpc.Client>();
  private readonly attemptTimeoutMs: number;
  private readonly timeoutMs: number;
  private readonly retryIndeterminate: boolean;
  private readonly credentials: grpc.ChannelCredentials;
  /** The endpoint believed to lead. */
  private current = 0;

  /** Throws KvError InvalidArgument when no endpoint is given. */
  constructor(opts: KvClientOptions) {
    if (opts.endpoints.length === 0) throw new KvError('InvalidArgument', 'The KV client needs at least one endpoint (host:port).');
    this.endpoints = [...opts.endpoints];
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? 2_000;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.retryIndeterminate = opts.retryIndeterminate ?? false;
    this.credentials = opts.credentials ?? grpc.credentials.createInsecure();
  }

  /** The endpoint the next call goes to first. */
  get leaderEndpoint(): string {
    return this.endpoints[this.current]!;
  }

  /** Writes `value` under `key`. Throws KvError (see the file comment for `indeterminate`). */
  async put(key: string, value: Bytes, opts: KvCallOptions = {}): Promise<{ index: number }> {
    const r = await this.call<KvWriteResponse>('Put', { key, value: bytes(value) }, true, opts);
    return { index: r.index };
  }

  /** Appends `value` to the key's value. Throws KvError. */
  async append(key: string, value: Bytes, opts: KvCallOptions = {}): Promise<{ index: number }> {
    const r = await this.call<KvWriteResponse>('Append', { key, value: bytes(value) }, true, opts);
    return { index: r.index };
  }

  /** Reads a key; linearizable (through ReadIndex) unless `linearizable: false`. Throws KvError. */
  async get(key: string, opts: KvCallOptions & { linearizable?: boolean } = {}): Promise<KvGetResult> {
    const r = await this.call<KvGetResponse>('Get', { key, linearizable: opts.linearizable ?? true }, false, opts);
    return { value: r.found ? r.value : undefined, index: r.index };
  }

  /** Compare-and-set; `expected` undefined means "only if the key is missing". Throws KvError. */
  async cas(key: string, expected: Bytes | undefined, value: Bytes, opts: KvCallOptions = {}): Promise<KvCasOutcome> {
    const req = { key, expected: expected === undefined ? new Uint8Array(0) : bytes(expected), value: bytes(value), expect_absent: expected === undefined };
    const r = await this.call<KvCasResponse>('Cas', req, true, opts);
    return { succeeded: r.succeeded, current: r.found ? r.current : undefined, index: r.index };
  }

  /** One member's status (the given endpoint, or the current one). No retries. Throws KvError. */
  async status(endpoint?: string, opts: KvCallOptions = {}): Promise<KvStatusResponse> {
    return this.call<KvStatusResponse>('Status', {}, false, { ...opts, endpoint: endpoint ?? opts.endpoint ?? this.leaderEndpoint });
  }

  /** Every endpoint's status, or the error reaching it. */
  async statusAll(opts: KvCallOptions = {}): Promise<(KvStatusResponse | KvError)[]> {
    return Promise.all(this.endpoints.map((ep) => this.status(ep, opts).catch((e: unknown) => e as KvError)));
  }

  /** Adds a member (learner, caught up, then voter unless learnerOnly). Throws KvError. */
  async addMember(id: string, addr: string, clientAddr: string, opts: KvCallOptions & { learnerOnly?: boolean } = {}): Promise<KvMemberResponse> {
    return this.call<KvMemberResponse>('AddMember', { id, addr, client_addr: clientAddr, learner_only: opts.learnerOnly ?? false }, false, opts);
  }

  /** Removes a member. Throws KvError. */
  async removeMember(id: string, opts: KvCallOptions = {}): Promise<KvMemberResponse> {
    return this.call<KvMemberResponse>('RemoveMember', { id }, false, opts);
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private client(endpoint: string): grpc.Client {
    let c = this.clients.get(endpoint);
    if (!c) {
      c = new grpc.Client(endpoint, this.credentials, { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 });
      this.clients.set(endpoint, c);
    }
    return c;
  }

  private once<T>(endpoint: string, method: KvMethod, req: object, timeoutMs: number, signal: AbortSignal | undefined): Promise<T> {
    const def = kvServiceDefinition()[method]!;
    return new Promise<T>((resolve, reject) => {
      const call = this.client(endpoint).makeUnaryRequest<object, T>(
        def.path,
        def.requestSerialize as (v: object) => Buffer,
        def.responseDeserialize as (b: Buffer) => T,
        req,
        { deadline: new Date(Date.now() + timeoutMs) },
        (err, res) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) reject(fromGrpcError(err));
          else resolve(res!);
        },
      );
      const onAbort = () => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async call<T>(method: KvMethod, req: object, write: boolean, opts: KvCallOptions): Promise<T> {
    const { signal } = opts;
    if (opts.endpoint) return this.once<T>(opts.endpoint, method, req, Math.min(this.attemptTimeoutMs, opts.timeoutMs ?? Infinity), signal);
    const deadline = Date.now() + (opts.timeoutMs ?? this.timeoutMs);
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw reasonOf(signal);
      const remaining = deadline - Date.now();
      const ep = this.leaderEndpoint;
      try {
        return await this.once<T>(ep, method, req, Math.max(1, Math.min(this.attemptTimeoutMs, remaining)), signal);
      } catch (err) {
        if (signal?.aborted) throw reasonOf(signal);
        const e = err as KvError;
        if (!RETRYABLE.has(e.code)) throw e;
        if (write && e.indeterminate && !this.retryIndeterminate) throw e;
        // Short and jittered: during an election the next answer that can succeed comes within
        // a few heartbeats of the new leader's win, and 500 clients must not retry in lockstep.
        let wait = Math.min(10 * 2 ** Math.min(attempt, 4), MAX_RETRY_WAIT_MS) * (0.5 + Math.random() / 2);
        if (e.code === 'NotLeader' && e.leaderClientAddr) {
          this.moveTo(e.leaderClientAddr);
          wait = e.leaderClientAddr === ep ? wait : 0;
        } else {
          // No leader named (or it is down): try the next member.
          if (this.endpoints[this.current] === ep) this.current = (this.current + 1) % this.endpoints.length;
        }
        if (Date.now() + wait >= deadline) throw e;
        if (wait > 0) await sleep(wait, signal);
      }
    }
  }

  private moveTo(endpoint: string): void {
    let i = this.endpoints.indexOf(endpoint);
    if (i < 0) i = this.endpoints.push(endpoint) - 1;
    this.current = i;
  }
}
