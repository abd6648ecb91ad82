// The ID of the node the CLI's daemon runs on, for `node ls`'s "*" and for
// "self" in `node ps/inspect/update`. It comes from the daemon's swarm
// inspect (docker info's Swarm.NodeID); when the daemon cannot say, the CLI
// simply marks no node.
import { credentials, type ClientUnaryCall } from '@grpc/grpc-js';
import { swarmProto } from '@shoal/api';
import { grpcTarget, unary } from '../client/connect.js';
import type { Context } from '../context.js';

type SwarmClient = {
  Inspect(req: object, cb: (err: unknown, res?: { json: string }) => void): ClientUnaryCall;
  close(): void;
};

/** The local node's ID, or undefined when the daemon does not report one. Never throws. */
export async function selfNodeId(ctx: Context): Promise<string | undefined> {
  const Ctor = (swarmProto() as unknown as Record<string, unknown>).Swarm as
    | (new (target: string, creds: ReturnType<typeof credentials.createInsecure>, opts: object) => SwarmClient)
    | undefined;
  if (!Ctor) return undefined;
  let client: SwarmClient | undefined;
  try {
    client = new Ctor(grpcTarget(ctx.host), credentials.createInsecure(), { 'grpc.enable_http_proxy': 0 });
    const c = client;
    const res = await unary<{ json: string }>((cb) => c.Inspect({}, cb as (err: unknown, res?: { json: string }) => void), AbortSignal.any([ctx.signal, AbortSignal.timeout(5000)]));
    const doc = JSON.parse(res.json || '{}') as { NodeID?: string; Swarm?: { NodeID?: string }; node_id?: string };
    return doc.NodeID || doc.Swarm?.NodeID || doc.node_id || undefined;
  } catch {
    return undefined;
  } finally {
    client?.close();
  }
}

/** Replaces "self" with the local node's ID (left as is when unknown). */
export async function resolveSelf(ctx: Context, refs: string[]): Promise<string[]> {
  if (!refs.includes('self')) return refs;
  const id = await selfNodeId(ctx);
  return refs.map((r) => (r === 'self' && id ? id : r));
}
