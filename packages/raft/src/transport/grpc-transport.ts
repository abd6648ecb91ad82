// The gRPC Transport (service RaftTransport in proto/shoal/raft/v1/raft.proto).
// Each member keeps one long-lived client stream to each peer and writes
// RaftMessageBatch frames on it. While a stream is busy (the write buffer is
// full) or reconnecting, messages queue up and go out together in the next
// frame. A broken stream is reported to the node as Unreachable (the leader
// falls back to probing) and reopened with capped exponential backoff.
// Snapshots go as one unary Snapshot call each, so the sender learns whether
// the peer took it (reported as SnapStatus).
//
// The frames are the protobuf bytes of storage/codec.ts, handed to grpc-js as
// raw buffers, so no proto-loader conversion runs on the hot path.
import * as grpc from '@grpc/grpc-js';
import { newMessage } from '../core/raft-core.js';
import type { Message, NodeId } from '../core/types.js';
import { MessageType } from '../core/types.js';
import { decodeMessageBatch, encodeMessageBatch } from '../storage/codec.js';
import type { Transport, TransportHandler } from './transport.js';

/** 256 MiB: a snapshot travels as one message. */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

export interface GrpcTransportCredentials {
  server: grpc.ServerCredentials;
  client: grpc.ChannelCredentials;
  /** Extra channel options, e.g. grpc.ssl_target_name_override for certificates naming the member ID. */
  channelOptions?: grpc.ChannelOptions;
}

export interface GrpcTransportLogger {
  warn(fields: Record<string, unknown>, msg: string): void;
}

export interface GrpcTransportOptions {
  /** This member's ID: only messages addressed to it are delivered. */
  id: NodeId;
  /** host:port to listen on (port 0 picks a free one; see `port`). */
  listen: string;
  /** Default: insecure (mutual TLS comes with the swarm's CA). */
  credentials?: GrpcTransportCredentials;
  /** Max bytes of one frame or snapshot, both ways. Default 256 MiB. */
  maxMessageBytes?: number;
  /** Reconnect backoff: first delay, doubled up to the cap. Default 50 ms, 2 s. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Messages queued for one peer beyond this are dropped (oldest first; Raft resends). Default 4,096. */
  maxQueuedMessages?: number;
  /** How long a snapshot may take to send. Default 60 s. */
  snapshotTimeoutMs?: number;
  logger?: GrpcTransportLogger;
  /**
   * Serve on this server (owned, bound and shut down by the caller, e.g. a
   * swarm manager's cluster port that also serves other services) instead of
   * listening on `listen`.
   */
  server?: grpc.Server;
  /**
   * Called with each incoming call before it is served; return an error
   * (e.g. the peer's certificate is not a manager's) to refuse it.
   */
  authorize?: (call: grpc.ServerReadableStream<Buffer, Buffer> | grpc.ServerUnaryCall<Buffer, Buffer>) => grpc.ServiceError | undefined;
}

const identity = (b: Buffer): Buffer => b;
const STREAM_PATH = '/shoal.raft.v1.RaftTransport/Stream';
const SNAPSHOT_PATH = '/shoal.raft.v1.RaftTransport/Snapshot';
const EMPTY = Buffer.alloc(0);
/** A frame carries at most this much entry data, so one batch never nears the message size limit. */
const FRAME_ENTRY_BYTES = 4 * 1024 * 1024;

const serviceDefinition: grpc.ServiceDefinition = {
  Stream: {
    path: STREAM_PATH,
    requestStream: true,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  Snapshot: {
    path: SNAPSHOT_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** Splits messages into frames of bounded entry data, each encoded once. */
function frames(msgs: Message[]): Buffer[] {
  const out: Buffer[] = [];
  let cur: Message[] = [];
  let bytes = 0;
  for (const m of msgs) {
    let size = 0;
    for (const e of m.entries) size += e.data.byteLength;
    if (cur.length > 0 && bytes + size > FRAME_ENTRY_BYTES) {
      out.push(Buffer.from(encodeMessageBatch(cur)));
      cur = [];
      bytes = 0;
    }
    cur.push(m);
    bytes += size;
  }
  if (cur.length > 0) out.push(Buffer.from(encodeMessageBatch(cur)));
  return out;
}

class PeerLink {
  private readonly client: grpc.Client;
  private stream: grpc.ClientWritableStream<Buffer> | undefined;
  private queue: Message[] = [];
  private draining = false;
  private retry: NodeJS.Timeout | undefined;
  private backoff: number;
  private closed = false;

  constructor(
    readonly id: NodeId,
    readonly addr: string,
    private readonly t: GrpcTransport,
  ) {
    this.backoff = t.backoffInitialMs;
    this.client = new grpc.Client(addr, t.credentials.client, {
      'grpc.max_send_message_length': t.maxMessageBytes,
      'grpc.max_receive_message_length': t.maxMessageBytes,
      // Notice a peer that stopped answering (SIGSTOP, a dead host) without waiting for TCP.
      'grpc.keepalive_time_ms': 5_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': t.backoffInitialMs,
      'grpc.max_reconnect_backoff_ms': t.backoffMaxMs,
      ...t.credentials.channelOptions,
    });
  }

  send(msgs: Message[]): void {
    if (this.closed) return;
    for (const m of msgs) {
      if (m.type === MessageType.Snap) this.sendSnapshot(m);
      else this.queue.push(m);
    }
    if (this.queue.length > this.t.maxQueued) {
      this.queue.splice(0, this.queue.length - this.t.maxQueued);
      this.t.report([newMessage({ type: MessageType.Unreachable, from: this.id })]);
    }
    this.flush();
  }

  private flush(): void {
    if (this.closed || this.queue.length === 0 || this.retry) return;
    if (!this.stream) this.open();
    if (this.draining || !this.stream) return;
    const batch = this.queue;
    this.queue = [];
    const stream = this.stream;
    for (const frame of frames(batch)) {
      const ok = stream.write(frame, () => {
        // Written to the connection: it works, so the next failure starts the backoff afresh.
        this.backoff = this.t.backoffInitialMs;
      });
      if (!ok) {
        this.draining = true;
        stream.once('drain', () => {
          if (this.stream !== stream) return;
          this.draining = false;
          this.flush();
        });
      }
    }
  }

  private open(): void {
    const stream = this.client.makeClientStreamRequest<Buffer, Buffer>(STREAM_PATH, identity, identity, (err) => {
      if (this.stream === stream) this.broken(err ?? undefined);
    });
    // The callback reports the failure; this keeps an 'error' event from being unhandled.
    stream.on('error', () => undefined);
    this.stream = stream;
    this.draining = false;
  }

  private broken(err: grpc.ServiceError | undefined): void {
    this.stream = undefined;
    this.draining = false;
    if (this.closed) return;
    this.t.report([newMessage({ type: MessageType.Unreachable, from: this.id })]);
    this.t.logger?.warn({ peer: this.id, addr: this.addr, err: err?.message ?? 'stream ended' }, 'raft transport stream to peer broke; reconnecting');
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.t.backoffMaxMs);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.flush();
    }, delay);
  }

  private sendSnapshot(m: Message): void {
    const deadline = new Date(Date.now() + this.t.snapshotTimeoutMs);
    this.client.makeUnaryRequest<Buffer, Buffer>(
      SNAPSHOT_PATH,
      identity,
      identity,
      Buffer.from(encodeMessageBatch([m])),
      { deadline },
      (err) => {
        const status = [newMessage({ type: MessageType.SnapStatus, from: this.id, reject: err !== null })];
        if (err) status.push(newMessage({ type: MessageType.Unreachable, from: this.id }));
        this.t.report(status);
      },
    );
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    const s = this.stream;
    this.stream = undefined;
    s?.end();
    this.client.close();
  }
}

export class GrpcTransport implements Transport {
  readonly id: NodeId;
  credentials: GrpcTransportCredentials;
  readonly maxMessageBytes: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly maxQueued: number;
  readonly snapshotTimeoutMs: number;
  readonly logger: GrpcTransportLogger | undefined;
  private readonly listen: string;
  private server: grpc.Server | undefined;
  private readonly sharedServer: grpc.Server | undefined;
  private readonly authorize: GrpcTransportOptions['authorize'];
  private handler: TransportHandler | undefined;
  private readonly peers = new Map<NodeId, PeerLink>();
  private boundPort = 0;

  constructor(opts: GrpcTransportOptions) {
    this.id = opts.id;
    this.listen = opts.listen;
    this.credentials = opts.credentials ?? { server: grpc.ServerCredentials.createInsecure(), client: grpc.credentials.createInsecure() };
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.backoffInitialMs = opts.backoffInitialMs ?? 50;
    this.backoffMaxMs = opts.backoffMaxMs ?? 2_000;
    this.maxQueued = opts.maxQueuedMessages ?? 4_096;
    this.snapshotTimeoutMs = opts.snapshotTimeoutMs ?? 60_000;
    this.logger = opts.logger;
    this.sharedServer = opts.server;
    this.authorize = opts.authorize;
  }

  /** The port bound by start() (useful with port 0). */
  get port(): number {
    return this.boundPort;
  }

  /** Throws when the address cannot be bound (in use, bad address). */
  async start(handler: TransportHandler): Promise<void> {
    this.handler = handler;
    const server =
      this.sharedServer ??
      new grpc.Server({
        'grpc.max_receive_message_length': this.maxMessageBytes,
        'grpc.max_send_message_length': this.maxMessageBytes,
      });
    server.addService(serviceDefinition, {
      Stream: (call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const refused = this.authorize?.(call);
        if (refused) {
          callback(refused);
          return;
        }
        call.on('data', (frame: Buffer) => this.deliver(frame));
        call.on('end', () => callback(null, EMPTY));
        call.on('error', () => undefined);
      },
      Snapshot: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const refused = this.authorize?.(call);
        if (refused) callback(refused);
        else if (this.deliver(call.request)) callback(null, EMPTY);
        else callback({ code: grpc.status.INVALID_ARGUMENT, details: 'The snapshot message could not be decoded.' });
      },
    });
    if (this.sharedServer) return;
    this.boundPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(this.listen, this.credentials.server, (err, port) => {
        if (err) reject(new Error(`Cannot listen for Raft peers on ${this.listen}: ${err.message}; choose a free address.`, { cause: err }));
        else resolve(port);
      });
    });
    this.server = server;
  }

  send(msgs: Message[]): void {
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of msgs) {
      let list = byPeer.get(m.to);
      if (!list) byPeer.set(m.to, (list = []));
      list.push(m);
    }
    for (const [to, list] of byPeer) {
      const link = this.peers.get(to);
      if (link) link.send(list);
      else this.report([newMessage({ type: MessageType.Unreachable, from: to })]);
    }
  }

  /**
   * Dials peers with new client credentials from now on (a renewed
   * certificate): every link is replaced; Raft resends what was in flight.
   */
  setClientCredentials(client: grpc.ChannelCredentials): void {
    this.credentials = { ...this.credentials, client };
    for (const [id, link] of [...this.peers]) {
      link.close();
      this.peers.set(id, new PeerLink(id, link.addr, this));
    }
  }

  addPeer(id: NodeId, addr: string): void {
    const old = this.peers.get(id);
    if (old?.addr === addr) return;
    old?.close();
    this.peers.set(id, new PeerLink(id, addr, this));
  }

  removePeer(id: NodeId): void {
    this.peers.get(id)?.close();
    this.peers.delete(id);
  }

  async stop(): Promise<void> {
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
    this.handler = undefined;
    this.sharedServer?.removeService(serviceDefinition);
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    // Peers' streams never end on their own: give calls a moment, then cut them.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 200);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** @internal Local reports (Unreachable, SnapStatus), delivered asynchronously like network input. */
  report(msgs: Message[]): void {
    setImmediate(() => this.handler?.(msgs));
  }

  private deliver(frame: Buffer): boolean {
    let msgs: Message[];
    try {
      msgs = decodeMessageBatch(frame);
    } catch (err) {
      this.logger?.warn({ err: (err as Error).message }, 'raft transport dropped an undecodable frame');
      return false;
    }
    const mine = msgs.filter((m) => m.to === this.id);
    if (mine.length > 0) this.handler?.(mine);
    return true;
  }
}
