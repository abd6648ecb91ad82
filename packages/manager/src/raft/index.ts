export { ClusterRaft } from './cluster-raft.js';
export type { ClusterRaftOptions, LeadershipListener } from './cluster-raft.js';
export { RaftProposer } from './raft-proposer.js';
export { StoreStateMachine } from './store-state-machine.js';
export { NotLeaderError, fromRaftError, noQuorumError, quorumOf } from './errors.js';
export type { NotLeaderErrorOptions, Reach } from './errors.js';
export { ReachabilityTransport } from './reachability.js';
export type { ReachabilityTransportOptions } from './reachability.js';
