// A userspace TCP proxy for one directed Raft link (member A dialling member B),
// so the chaos tests can cut, heal and slow links without netem or iptables
// (the kernel here has no netem, and tests must never touch the host firewall).
//
// Cutting a link destroys its open connections and refuses new ones (accepted,
// then reset at once), which is what a sender sees across a partition: its
// stream breaks and redials fail until the partition heals. Bytes are never
// altered; a delay holds every chunk for the set time, in order.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface LinkProxyOptions {
  /** host:port of the real listener (the destination member's Raft address). */
  target: string;
  /** Label for logs and errors, e.g. "n1->n2". */
  name?: string;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

export class LinkProxy {
  readonly name: string;
  private readonly targetHost: string;
  private readonly targetPort: number;
  private server: Server | undefined;
  private readonly pairs = new Set<Pair>();
  private up = true;
  private delayMs = 0;
  private listenPort = 0;

  /** Throws Error when `target` is not host:port. */
  constructor(opts: LinkProxyOptions) {
    const i = opts.target.lastIndexOf(':');
    const port = Number(opts.target.slice(i + 1));
    if (i <= 0 || !Number.isInteger(port) || port <= 0) throw new Error(`The proxy target must be host:port, not "${opts.target}".`);
    this.targetHost = opts.target.slice(0, i);
    this.targetPort = port;
    this.name = opts.name ?? opts.target;
  }

  /** The address members should dial instead of the target. */
  get addr(): string {
    return `127.0.0.1:${this.listenPort}`;
  }

  get isUp(): boolean {
    return this.up;
  }

  /** Listens on a free loopback port. Throws when it cannot listen. */
  async start(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address();
    this.listenPort = typeof a === 'object' && a ? a.port : 0;
    this.server = server;
  }

  /** Drops the link: open connections are reset and new ones refused until heal(). */
  cut(): void {
    this.up = false;
    for (const p of this.pairs) this.destroy(p);
  }

  heal(): void {
    this.up = true;
  }

  /** Holds every chunk this long (both directions) before forwarding it. 0 = none. */
  setDelay(ms: number): void {
    this.delayMs = Math.max(0, ms);
  }

  async close(): Promise<void> {
    this.up = false;
    for (const p of this.pairs) this.destroy(p);
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    if (!this.up || !this.server) {
      client.destroy();
      return;
    }
    client.setNoDelay(true);
    const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
    upstream.setNoDelay(true);
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    this.pipe(client, upstream);
    this.pipe(upstream, client);
    const end = () => this.destroy(pair);
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  }

  /**
   * Forwards `from` to `to`. With a delay, each chunk leaves `delayMs` after it
   * arrived, in order; a full `to` pauses `from` (back-pressure either way).
   */
  private pipe(from: Socket, to: Socket): void {
    let queue: Promise<void> = Promise.resolve();
    let pending = 0;
    const write = (chunk: Buffer) => {
      if (to.destroyed) return;
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    };
    from.on('data', (chunk: Buffer) => {
      const d = this.delayMs;
      if (d === 0 && pending === 0) return write(chunk);
      const due = performance.now() + d;
      pending++;
      queue = queue.then(async () => {
        const wait = due - performance.now();
        if (wait > 0) await new Promise<void>((r) => setTimeout(r, wait));
        pending--;
        write(chunk);
      });
    });
    from.on('end', () => {
      void queue.then(() => to.end());
    });
  }

  private destroy(p: Pair): void {
    if (!this.pairs.delete(p)) return;
    p.client.destroy();
    p.upstream.destroy();
  }
}
