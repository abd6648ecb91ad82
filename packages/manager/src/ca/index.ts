export { certificateDigest } from './crypto.js';
export {
  DIGEST_CHARS,
  SECRET_CHARS,
  generateJoinToken,
  generateJoinTokens,
  parseJoinToken,
  roleForToken,
  rotateJoinToken,
  tokensEqual,
} from './join-token.js';
export type { ParsedJoinToken } from './join-token.js';
export {
  DEFAULT_ROOT_CA_EXPIRY_MS,
  createRootCa,
  loadRootCaSigner,
  rootCaFromCluster,
  rootCaToProto,
  verifyRootCa,
} from './root-ca.js';
export type { CreateRootCaOptions, RootCaMaterial, RootCaSigner } from './root-ca.js';
export { createNodeCsr, parseNodeCertificate, verifyNodeCertificate } from './node-cert.js';
export type { NodeCertificate, NodeCsr, NodeIdentity } from './node-cert.js';
export {
  DEFAULT_NODE_CERT_EXPIRY_MS,
  MIN_NODE_CERT_EXPIRY_MS,
  issueNodeCertificate,
  nodeCertExpiryMs,
  renewNodeCertificate,
  signNodeCertificate,
  validateNodeCertExpiry,
} from './issuer.js';
export type { IssueOptions, IssuedCertificate, NodeSubject, SignOptions } from './issuer.js';
export { CertificateRenewer, MAX_SLEEP_MS, realClock, renewalTime } from './renewal.js';
export type { CertificateRenewerOptions, RenewalClock } from './renewal.js';
export {
  NodeServerCredentials,
  anonymousClientCredentials,
  authorize,
  bootstrapClientCredentials,
  clientCredentials,
  clusterChannelOptions,
  peerIdentity,
  serverCredentials,
} from './tls.js';
export type { AuthorizationLevel, AuthorizeOptions, CallWithAuthContext, PeerIdentity, ServerCredentialsOptions } from './tls.js';
export { CA_ROLE_NAME, MANAGER_ROLE_NAME, WORKER_ROLE_NAME, roleFromName, roleName } from './roles.js';
export type { CertRole } from './roles.js';
export { CaServer, currentCluster } from './server.js';
