// The NodeCA service: hands joining nodes their certificates (the role comes
// from the join token) and renews certificates of nodes that have one (the
// role comes from the Node object, which promote/demote change). Issuing
// creates the node's Node object in the same store update, so a node that
// holds a certificate is always known to the managers.
import type { ServerUnaryCall, sendUnaryData, UntypedServiceImplementation } from '@grpc/grpc-js';
import { failedPrecondition, notFound, toServiceError } from '@shoal/api';
import type {
  Cluster__Output,
  GetRootCACertificateResponse,
  IssueNodeCertificateRequest__Output,
  IssueNodeCertificateResponse,
  Node,
  RenewNodeCertificateRequest__Output,
} from '@shoal/api';
import type { MemoryStore } from '../store/index.js';
import { newObjectId } from '../store/index.js';
import { issueNodeCertificate, renewNodeCertificate } from './issuer.js';
import type { IssuedCertificate } from './issuer.js';
import { authorize } from './tls.js';
import type { CallWithAuthContext } from './tls.js';

const AVAILABILITY: Record<string, 'ACTIVE' | 'PAUSE' | 'DRAIN'> = { '': 'ACTIVE', active: 'ACTIVE', pause: 'PAUSE', drain: 'DRAIN' };

/** The swarm's one Cluster object. Throws FailedPrecondition before the swarm is initialised. */
export function currentCluster(store: MemoryStore): Cluster__Output {
  const cluster = store.view((tx) => tx.clusters.find()[0]);
  if (!cluster) throw failedPrecondition('this manager has no cluster object yet; wait for the swarm to finish initialising.');
  return cluster;
}

function reply(issued: IssuedCertificate): IssueNodeCertificateResponse {
  return { node_id: issued.nodeId, role: issued.role, cluster_id: issued.clusterId, certificate: issued.certPem, root_ca: issued.rootCaPem };
}

/**
 * The NodeCA handlers over a manager's store. Writes (issuing a certificate
 * creates the Node) must run on the leader: the caller forwards otherwise.
 */
export class CaServer {
  constructor(private readonly store: MemoryStore) {}

  async getRootCa(): Promise<GetRootCACertificateResponse> {
    const ca = currentCluster(this.store).root_ca;
    return { certificate: Buffer.from(ca?.ca_cert ?? []).toString() };
  }

  /**
   * Throws InvalidArgument (token, CSR, availability), PermissionDenied (a
   * rotated-out token or another swarm's), and the store's errors.
   */
  async issue(req: IssueNodeCertificateRequest__Output): Promise<IssueNodeCertificateResponse> {
    const availability = AVAILABILITY[req.availability.toLowerCase()];
    if (!availability) throw failedPrecondition(`invalid availability "${req.availability}": use active, pause or drain.`);
    const nodeId = newObjectId();
    const issued = await issueNodeCertificate(req.csr, req.token, currentCluster(this.store), { nodeId });
    const node: Node = {
      id: nodeId,
      spec: { desired_role: issued.role, membership: 'ACCEPTED', availability, annotations: { name: '', labels: {} } },
      role: issued.role,
      description: { hostname: req.hostname },
      status: { state: 'UNKNOWN', message: 'joined; waiting for the first session', addr: '' },
      ...(issued.role === 'MANAGER' ? { manager_status: { raft_id: nodeId, addr: req.advertise_addr, leader: false, reachability: 'UNKNOWN' as const } } : {}),
    };
    await this.store.update((tx) => {
      tx.nodes.create(node);
    });
    return reply(issued);
  }

  /** Throws PermissionDenied without a node certificate, NotFound for a removed node. */
  async renew(call: CallWithAuthContext, req: RenewNodeCertificateRequest__Output): Promise<IssueNodeCertificateResponse> {
    const id = authorize(call, 'any');
    const node = this.store.view((tx) => tx.nodes.get(id.nodeId));
    if (!node) throw notFound(`node ${id.nodeId} was removed from the swarm; join it again with a join token.`);
    return reply(await renewNodeCertificate(req.csr, id.nodeId, node.role, currentCluster(this.store)));
  }

  /** grpc-js handlers for swarmProto().NodeCA.service. */
  handlers(): UntypedServiceImplementation {
    const unary =
      <Req, Res>(fn: (call: ServerUnaryCall<Req, Res>) => Promise<Res>) =>
      (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>): void => {
        fn(call).then(
          (res) => cb(null, res),
          (err: unknown) => cb(toServiceError(err)),
        );
      };
    return {
      GetRootCACertificate: unary(() => this.getRootCa()),
      IssueNodeCertificate: unary((call: ServerUnaryCall<IssueNodeCertificateRequest__Output, IssueNodeCertificateResponse>) => this.issue(call.request)),
      RenewNodeCertificate: unary((call: ServerUnaryCall<RenewNodeCertificateRequest__Output, IssueNodeCertificateResponse>) =>
        this.renew(call as unknown as CallWithAuthContext, call.request),
      ),
    };
  }
}
