// Forwarding of unary cluster calls from a follower to the leader, over the
// follower's own manager certificate. The leader learns whom the call was for
// from FORWARDED_FOR (trusted only because the caller holds a manager
// certificate).
import { Metadata, makeClientConstructor } from '@grpc/grpc-js';
import type { ChannelCredentials, Client, ServiceDefinition, ServiceError } from '@grpc/grpc-js';
import { fromServiceError, unavailable } from '@shoal/api';

export const FORWARDED_FOR = 'shoal-forwarded-for';
const FORWARD_TIMEOUT_MS = 30_000;

type UnaryFn = (req: unknown, md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null, res?: unknown) => void) => void;

export class Forwarder {
  private readonly clients = new Map<string, Client>();

  constructor(
    private readonly leader: () => string | undefined,
    private client: { credentials: ChannelCredentials; channelOptions?: Record<string, string | number> },
  ) {}

  /** Calls from now on use these credentials (a renewed certificate). */
  setCredentials(credentials: ChannelCredentials): void {
    this.client = { ...this.client, credentials };
    this.close();
  }

  /**
   * Calls `method` of `def` on the leader.
   * @throws ShoalError Unavailable when no leader is known ("no quorum" is the
   *   raft layer's to say), or the leader's error.
   */
  unary(def: ServiceDefinition, method: string, request: unknown, forNode: string | undefined): Promise<unknown> {
    const addr = this.leader();
    if (!addr) {
      return Promise.reject(
        unavailable('The swarm does not have a leader: too few managers may be online (no quorum), or an election is running. Make sure more than half of the managers are online, then retry.'),
      );
    }
    const client = this.clientFor(def, addr) as unknown as Record<string, UnaryFn>;
    const md = new Metadata();
    if (forNode) md.set(FORWARDED_FOR, forNode);
    return new Promise((resolve, reject) => {
      client[method]!.call(client, request, md, { deadline: new Date(Date.now() + FORWARD_TIMEOUT_MS) }, (err, res) => {
        if (err) reject(fromServiceError(err));
        else resolve(res);
      });
    });
  }

  private clientFor(def: ServiceDefinition, addr: string): Client {
    const key = `${Object.values(def)[0]?.path ?? ''}@${addr}`;
    let c = this.clients.get(key);
    if (!c) {
      const Ctor = makeClientConstructor(def, 'Forwarded');
      c = new Ctor(addr, this.client.credentials, this.client.channelOptions ?? {});
      this.clients.set(key, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
