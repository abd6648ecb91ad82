// Mutual TLS for every cluster connection, on @grpc/grpc-js. The root CA is
// the only trust anchor; a peer's identity and role come from its certificate.
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { ServerCredentials, credentials } from '@grpc/grpc-js';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { ErrorCode, ShoalError, errorMessage } from '@shoal/api';
import { parseNodeCertificate, rootCertificate } from './node-cert.js';
import type { NodeCertificate, NodeIdentity } from './node-cert.js';
import { roleFromName, roleName } from './roles.js';
import type { CertRole } from './roles.js';

export interface ServerCredentialsOptions {
  /**
   * Also accept clients without a certificate (TLS still verifies any
   * certificate that is presented). Needed on the port where nodes join: they
   * call the CA before they have a certificate. Every other method must then
   * call `authorize`, which refuses anonymous callers. Default false.
   */
  allowAnonymous?: boolean;
}

/**
 * Server credentials from a node certificate: the server presents it, and
 * clients must present certificates issued by the root CA (unless
 * allowAnonymous). `update` swaps in a renewed certificate without a restart.
 */
export class NodeServerCredentials extends ServerCredentials {
  constructor(cert: NodeCertificate, private readonly serverOptions: ServerCredentialsOptions = {}) {
    super(
      { requestCert: true, rejectUnauthorized: serverOptions.allowAnonymous !== true },
      contextOptions(cert),
    );
  }

  /** Installs a renewed certificate; new connections use it, open ones keep theirs. */
  update(cert: NodeCertificate): void {
    this.updateSecureContextOptions(contextOptions(cert));
  }

  override _equals(other: ServerCredentials): boolean {
    return other === this;
  }

  get allowAnonymous(): boolean {
    return this.serverOptions.allowAnonymous === true;
  }
}

function contextOptions(cert: NodeCertificate): { ca: Buffer; cert: Buffer; key: Buffer } {
  return { ca: Buffer.from(cert.rootCaPem), cert: Buffer.from(cert.certPem), key: Buffer.from(cert.keyPem) };
}

/** Mutual-TLS server credentials for a node certificate (see NodeServerCredentials). */
export function serverCredentials(nodeCert: NodeCertificate, options: ServerCredentialsOptions = {}): NodeServerCredentials {
  return new NodeServerCredentials(nodeCert, options);
}

/**
 * Checks a server's certificate: issued by the root (TLS has checked the
 * chain already; this re-checks it against our root alone) and, when asked,
 * holding `expectedRole`. Returns an Error to refuse the connection.
 */
function checkServer(rootCaPem: string, expectedRole: CertRole | undefined) {
  return (hostname: string, peer: PeerCertificate): Error | undefined => {
    const server = roleFromName(hostname) ? 'the server' : `the server at ${hostname}`;
    try {
      const cert = new X509Certificate(peer.raw);
      const root = rootCertificate(rootCaPem);
      if (!cert.checkIssued(root) || !cert.verify(root.publicKey)) {
        return new Error(`${server} presented a certificate that this swarm's root CA did not issue`);
      }
      const id = parseNodeCertificate(cert);
      if (expectedRole && id.role !== expectedRole) {
        return new Error(
          `${server} presented a ${id.role.toLowerCase()} certificate; expected a ${expectedRole.toLowerCase()}`,
        );
      }
      return undefined;
    } catch (err) {
      return new Error(`cannot verify ${server}: ${errorMessage(err)}`);
    }
  };
}

/**
 * Client credentials from a node certificate: presents it, trusts only the
 * root CA, and (when `expectedRole` is given) refuses a server whose
 * certificate holds another role — agents and managers dial managers with
 * 'MANAGER'. Hostnames are not checked: nodes dial addresses, and identity
 * is the certificate's role and id.
 */
export function clientCredentials(nodeCert: NodeCertificate, expectedRole?: CertRole): ChannelCredentials {
  return credentials.createSsl(
    Buffer.from(nodeCert.rootCaPem),
    Buffer.from(nodeCert.keyPem),
    Buffer.from(nodeCert.certPem),
    { checkServerIdentity: checkServer(nodeCert.rootCaPem, expectedRole) },
  );
}

/**
 * Channel options for every cluster client: the TLS server name is the role
 * name (`swarm-manager`) rather than the dialled IP address, which TLS SNI
 * does not allow (node warns, DEP0123). Identity is checked by the
 * credentials' checkServerIdentity, not by this name.
 */
export function clusterChannelOptions(serverRole: CertRole = 'MANAGER'): { 'grpc.ssl_target_name_override': string } {
  return { 'grpc.ssl_target_name_override': roleName(serverRole) };
}

/**
 * Credentials for a node that has verified the root CA (verifyRootCa) but has
 * no certificate yet: the join call that sends the CSR and token.
 */
export function anonymousClientCredentials(rootCaPem: string, expectedRole: CertRole = 'MANAGER'): ChannelCredentials {
  return credentials.createSsl(Buffer.from(rootCaPem), null, null, {
    checkServerIdentity: checkServer(rootCaPem, expectedRole),
  });
}

/**
 * TLS that verifies nothing, for the one call a joining node makes before it
 * knows the root CA: fetching the root CA certificate, which it must then
 * check with verifyRootCa(token, caPem) before using it for anything.
 */
export function bootstrapClientCredentials(): ChannelCredentials {
  return credentials.createSsl(null, null, null, { rejectUnauthorized: false });
}

/** The part of a grpc-js server call (any kind) that carries the TLS peer. */
export interface CallWithAuthContext {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate };
}

export type PeerIdentity = Pick<NodeIdentity, 'nodeId' | 'role' | 'clusterId'>;

const identityCache = new Map<string, NodeIdentity>();

/**
 * The identity of the node on the other end of a server call, from the
 * certificate it presented, or undefined when it presented none. grpc-js
 * reports only certificates TLS verified against the server's root CA.
 * Throws PermissionDenied for a verified certificate that is not a node
 * certificate or is outside its validity.
 */
export function peerIdentity(call: CallWithAuthContext, now: Date = new Date()): PeerIdentity | undefined {
  const peer = call.getAuthContext().sslPeerCertificate;
  if (!peer?.raw) return undefined;
  const key = peer.fingerprint256 || peer.raw.toString('base64');
  let id = identityCache.get(key);
  if (!id) {
    try {
      id = parseNodeCertificate(peer.raw);
    } catch (err) {
      throw new ShoalError(ErrorCode.PermissionDenied, `the caller's certificate is not a swarm node certificate: ${errorMessage(err)}`);
    }
    if (identityCache.size >= 4096) identityCache.clear();
    identityCache.set(key, id);
  }
  const t = now.getTime();
  if (t < id.notBefore.getTime() || t > id.notAfter.getTime()) {
    throw new ShoalError(ErrorCode.PermissionDenied, `the certificate of node ${id.nodeId} is expired or not yet valid.`);
  }
  return { nodeId: id.nodeId, role: id.role, clusterId: id.clusterId };
}

/** What a method needs: a manager's certificate, or any node's. */
export type AuthorizationLevel = 'manager' | 'any';

export interface AuthorizeOptions {
  /** Also require the certificate's O (cluster id) to be this one. */
  clusterId?: string;
}

/**
 * The guard every cluster RPC runs first. Returns the caller's identity.
 * Throws PermissionDenied when the caller presented no certificate, a worker
 * certificate for a manager-only method, or one of another cluster id.
 */
export function authorize(
  call: CallWithAuthContext,
  level: AuthorizationLevel,
  options: AuthorizeOptions = {},
): PeerIdentity {
  const id = peerIdentity(call);
  if (!id) {
    throw new ShoalError(
      ErrorCode.PermissionDenied,
      'this call needs a swarm node certificate; the caller presented none (join the swarm first).',
    );
  }
  if (level === 'manager' && id.role !== 'MANAGER') {
    throw new ShoalError(
      ErrorCode.PermissionDenied,
      'this call needs a manager certificate; the caller presented a worker certificate.',
    );
  }
  if (options.clusterId !== undefined && id.clusterId !== options.clusterId) {
    throw new ShoalError(
      ErrorCode.PermissionDenied,
      `the caller's certificate belongs to swarm ${id.clusterId}, not this swarm (${options.clusterId}).`,
    );
  }
  return id;
}
