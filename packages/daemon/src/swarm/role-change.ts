// The node's side of `node promote` / `node demote`: once the role manager
// (on the leader) has recorded the new role, the node renews its certificate
// to carry it and, when promoted, asks to join Raft. The calls go to any
// manager it knows (they forward to the leader), first one that answers wins.
import type { ServiceError } from '@grpc/grpc-js';
import { errorMessage, fromServiceError, swarmProto, unavailable } from '@shoal/api';
import type { IssueNodeCertificateResponse__Output, Node__Output, RaftJoinResponse__Output } from '@shoal/api';
import { clientCredentials, clusterChannelOptions, createNodeCsr } from '@shoal/manager/ca/index';
import type { NodeCertificate } from '@shoal/manager/ca/index';
import type { LeaderComponent, Manager } from '@shoal/manager/swarm/manager';
import { RoleManager } from '@shoal/manager/roles/role-manager';
import type { Logger } from '@shoal/api';

const CALL_TIMEOUT_MS = 10_000;

export type Role = 'MANAGER' | 'WORKER';

/** The role a Node object records ('' and unknown count as worker). */
export const roleOf = (n: Node__Output): Role => (n.role === 'MANAGER' ? 'MANAGER' : 'WORKER');

function call<T>(fn: (cb: (err: ServiceError | null, res?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) =>
    fn((err, res) => {
      if (err) reject(fromServiceError(err));
      else resolve(res as T);
    }),
  );
}

async function firstAnswer<T>(addrs: string[], what: string, fn: (addr: string) => Promise<T>): Promise<T> {
  const errors: string[] = [];
  for (const addr of addrs) {
    try {
      return await fn(addr);
    } catch (err) {
      errors.push(`${addr}: ${errorMessage(err)}`);
    }
  }
  throw unavailable(`could not ${what} through any manager (${errors.join('; ') || 'none known'})`);
}

/**
 * A new certificate for this node with the role the managers recorded.
 * Throws Unavailable when no manager answers, or when the recorded role is
 * not `want` yet (the caller retries).
 */
export async function renewCertificate(addrs: string[], cert: NodeCertificate, want: Role): Promise<NodeCertificate> {
  const csr = await createNodeCsr();
  const res = await firstAnswer(addrs, 'renew the node certificate', async (addr) => {
    const ca = new (swarmProto().NodeCA)(addr, clientCredentials(cert, 'MANAGER'), clusterChannelOptions());
    try {
      return await call<IssueNodeCertificateResponse__Output>((cb) => ca.RenewNodeCertificate({ csr: csr.csrPem }, { deadline: new Date(Date.now() + CALL_TIMEOUT_MS) }, cb));
    } finally {
      ca.close();
    }
  });
  if (res.role !== want) throw unavailable(`the managers still record this node as ${res.role.toLowerCase()}; retrying`);
  return { certPem: res.certificate, keyPem: csr.keyPem, rootCaPem: res.root_ca || cert.rootCaPem };
}

/** Asks the leader (through any manager) to add this node to Raft; returns the members. */
export async function joinRaft(addrs: string[], cert: NodeCertificate, advertiseAddr: string): Promise<{ id: string; addr: string }[]> {
  const res = await firstAnswer(addrs, 'join the managers', async (addr) => {
    const m = new (swarmProto().RaftMembership)(addr, clientCredentials(cert, 'MANAGER'), clusterChannelOptions());
    try {
      return await call<RaftJoinResponse__Output>((cb) => m.Join({ addr: advertiseAddr }, { deadline: new Date(Date.now() + 30_000) }, cb));
    } finally {
      m.close();
    }
  });
  return res.members.map((p) => ({ id: p.node_id, addr: p.addr }));
}

/** The leader-only role manager over a manager's Raft member. */
export function roleManager(manager: Manager, logger: Logger): LeaderComponent {
  const raft = manager.raft;
  return new RoleManager(manager.store, {
    logger,
    raft: {
      selfId: manager.nodeId,
      isMember: (id) => {
        const c = raft.status().config;
        return c.voters.includes(id) || c.learners.includes(id);
      },
      canRemove: (id) => {
        const voters = raft.status().config.voters.filter((v) => v !== id);
        return voters.filter((v) => raft.isReachable(v)).length >= Math.floor(voters.length / 2) + 1;
      },
      removeManager: (id, signal) => raft.removeManager(id, signal),
      transferLeadership: async (signal) => {
        const to = raft.status().config.voters.find((v) => v !== manager.nodeId && raft.isReachable(v));
        if (!to) throw unavailable('no other reachable manager can take over the leadership');
        await raft.transferLeadership(to, signal);
      },
    },
  });
}
