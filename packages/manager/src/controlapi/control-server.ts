// The Control service: the cluster API behind `shoal node …` and `shoal
// service …`. Every call validates first, then reads or writes the store in
// one transaction, so bad input changes nothing. It serves whatever store it
// is given: the daemon mounts it only where that store is the leader's (other
// managers forward), and wraps it with its own authorization.
import { isDeepStrictEqual } from 'node:util';
import type { UntypedServiceImplementation, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import {
  alreadyExists,
  errorMessage,
  failedPrecondition,
  invalidArgument,
  isAlreadyExists,
  notFound,
  toServiceError,
} from '@shoal/api';
import type {
  Cluster,
  Cluster__Output,
  CreateServiceRequest__Output,
  CreateServiceResponse,
  GetClusterRequest__Output,
  GetClusterResponse,
  GetNodeRequest__Output,
  GetNodeResponse,
  GetServiceRequest__Output,
  GetServiceResponse,
  GetTaskRequest__Output,
  GetTaskResponse,
  ListClustersResponse,
  ListNodesRequest__Output,
  ListNodesResponse,
  ListServicesRequest__Output,
  ListServicesResponse,
  ListTasksRequest__Output,
  ListTasksResponse,
  Logger,
  ManagerStatus,
  Node__Output,
  RemoveNodeRequest__Output,
  RemoveServiceRequest__Output,
  Service,
  ServiceSpec__Output,
  Task__Output,
  UpdateClusterRequest__Output,
  UpdateClusterResponse,
  UpdateNodeRequest__Output,
  UpdateNodeResponse,
  UpdateServiceRequest__Output,
  UpdateServiceResponse,
  Version__Output,
} from '@shoal/api';
import { rotateJoinToken } from '../ca/index.js';
import { all, byIdPrefix, byName, byNode, byService, newObjectId, nodeName, taskName } from '../store/index.js';
import type { MemoryStore, ReadTx, TableObjects, WriteTx } from '../store/index.js';
import { randomServiceName } from './names.js';
import { findRef, resolveRef } from './refs.js';
import { modeName, specMode, validateClusterSpec, validateName, validateNodeSpec, validateServiceSpec } from './validate.js';

/** Raft's view of the managers, for manager status and safe demotion/removal. */
export interface RaftMembers {
  /** The Raft member on this node (id, address, leader, reachability), or undefined when it is not one. */
  managerStatus(nodeId: string): ManagerStatus | undefined;
  /** Whether the member on this node can leave without the remaining members losing quorum. */
  canRemove(nodeId: string): boolean;
}

export interface ControlServerDeps {
  logger: Logger;
  /** Without it, manager status comes from the stored nodes and no quorum check is made. */
  raftMembers?: RaftMembers;
}

const MAX_NAME_ATTEMPTS = 5;

type Labels = Record<string, string> | null | undefined;

function matchLabels(have: Labels, want: Labels): boolean {
  for (const [k, v] of Object.entries(want ?? {})) {
    if (!have || !(k in have)) return false;
    if (v !== '' && have[k] !== v) return false;
  }
  return true;
}

const anyPrefix = (id: string, prefixes: readonly string[]): boolean =>
  prefixes.length === 0 || prefixes.some((p) => id.startsWith(p));
const anyName = (name: string, names: readonly string[]): boolean =>
  names.length === 0 || names.some((n) => n.toLowerCase() === name.toLowerCase());

function requireVersion(v: Version__Output | null | undefined, noun: string): Version__Output {
  if (!v || v.index === '' || v.index === '0') {
    throw invalidArgument(`the ${noun} version must be provided: read the ${noun} first and send the version you read`);
  }
  return v;
}

const nextVersion = (v: Version__Output | null | undefined): { index: string } => ({
  index: String(BigInt(v?.index ?? '0') + 1n),
});

/** A cluster object without its secrets (the CA key and unlock keys never leave the managers). */
function redact(c: Cluster__Output): Cluster__Output {
  return { ...c, root_ca: c.root_ca ? { ...c.root_ca, ca_key: Buffer.alloc(0) } : null, unlock_keys: [] };
}

type Handler<Req, Res> = (req: Req) => Promise<Res> | Res;

/**
 * The Control service over a store. Errors are ShoalErrors (InvalidArgument,
 * NotFound, AlreadyExists, FailedPrecondition, Conflict, and the store's
 * NotLeader/Unavailable), converted to gRPC status only at the edge.
 */
export class ControlServer {
  readonly #store: MemoryStore;
  readonly #log: Logger;
  readonly #raft: RaftMembers | undefined;

  constructor(store: MemoryStore, deps: ControlServerDeps) {
    this.#store = store;
    this.#log = deps.logger.child({ component: 'controlapi' });
    this.#raft = deps.raftMembers;
  }

  /** Handlers for `swarmProto().Control.service`. */
  service(): UntypedServiceImplementation {
    return {
      GetNode: this.#unary('GetNode', (r: GetNodeRequest__Output) => this.getNode(r)),
      ListNodes: this.#unary('ListNodes', (r: ListNodesRequest__Output) => this.listNodes(r)),
      UpdateNode: this.#unary('UpdateNode', (r: UpdateNodeRequest__Output) => this.updateNode(r)),
      RemoveNode: this.#unary('RemoveNode', (r: RemoveNodeRequest__Output) => this.removeNode(r)),
      GetService: this.#unary('GetService', (r: GetServiceRequest__Output) => this.getService(r)),
      ListServices: this.#unary('ListServices', (r: ListServicesRequest__Output) => this.listServices(r)),
      CreateService: this.#unary('CreateService', (r: CreateServiceRequest__Output) => this.createService(r)),
      UpdateService: this.#unary('UpdateService', (r: UpdateServiceRequest__Output) => this.updateService(r)),
      RemoveService: this.#unary('RemoveService', (r: RemoveServiceRequest__Output) => this.removeService(r)),
      GetTask: this.#unary('GetTask', (r: GetTaskRequest__Output) => this.getTask(r)),
      ListTasks: this.#unary('ListTasks', (r: ListTasksRequest__Output) => this.listTasks(r)),
      GetCluster: this.#unary('GetCluster', (r: GetClusterRequest__Output) => this.getCluster(r)),
      ListClusters: this.#unary('ListClusters', () => this.listClusters()),
      UpdateCluster: this.#unary('UpdateCluster', (r: UpdateClusterRequest__Output) => this.updateCluster(r)),
    };
  }

  #unary<Req, Res>(method: string, fn: Handler<Req, Res>): (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => void {
    return (call, cb) => {
      // An async wrapper turns a synchronous throw into a rejection too.
      const result = (async () => fn(call.request))();
      result.then(
        (res) => cb(null, res),
        (err: unknown) => {
          this.#log.debug('control call failed', { method, error: errorMessage(err) });
          cb(toServiceError(err));
        },
      );
    };
  }

  /** The object as committed (with its new version), or as written if it is already gone again. */
  #committed<K extends 'nodes' | 'services' | 'clusters'>(table: K, written: TableObjects[K]): TableObjects[K] {
    return this.#store.view((tx) => (tx[table] as unknown as { get(id: string): TableObjects[K] | undefined }).get(written.id)) ?? written;
  }

  // ---------- nodes ----------

  #withManagerStatus(n: Node__Output): Node__Output {
    const status = this.#raft?.managerStatus(n.id);
    if (status === undefined) return n;
    return { ...n, manager_status: { raft_id: '', addr: '', leader: false, reachability: 'UNKNOWN', ...status } as Node__Output['manager_status'] };
  }

  /** @throws NotFound; InvalidArgument for an empty or ambiguous reference. */
  getNode(req: GetNodeRequest__Output): GetNodeResponse {
    const node = this.#store.view((tx) => resolveRef(tx, 'nodes', req.node_id));
    return { node: this.#withManagerStatus(node) };
  }

  listNodes(req: ListNodesRequest__Output): ListNodesResponse {
    const f = req.filters;
    const nodes = this.#store.view((tx) => tx.nodes.find()).filter(
      (n) =>
        !f ||
        (anyName(nodeName(n), f.names) &&
          anyPrefix(n.id, f.id_prefixes) &&
          matchLabels(n.spec?.annotations?.labels, f.labels) &&
          (f.roles.length === 0 || f.roles.includes(n.role)) &&
          (f.memberships.length === 0 || f.memberships.includes(n.spec?.membership ?? 'PENDING')) &&
          (f.availabilities.length === 0 || f.availabilities.includes(n.spec?.availability ?? 'ACTIVE'))),
    );
    return { nodes: nodes.map((n) => this.#withManagerStatus(n)) };
  }

  /**
   * Replaces a node's spec (availability, labels, desired role). A demotion
   * only writes spec.desired_role; the raft glue reconciles membership.
   * @throws InvalidArgument (no version, bad labels); NotFound;
   *   FailedPrecondition when demoting the last manager or losing quorum;
   *   Conflict when the node changed after the caller read it.
   */
  async updateNode(req: UpdateNodeRequest__Output): Promise<UpdateNodeResponse> {
    const version = requireVersion(req.node_version, 'node');
    const spec = req.spec;
    validateNodeSpec(spec);
    const node = await this.#store.update((tx) => {
      const current = resolveRef(tx, 'nodes', req.node_id);
      const wasManager = current.spec?.desired_role === 'MANAGER' || current.role === 'MANAGER';
      if (wasManager && spec.desired_role === 'WORKER') {
        const others = tx.nodes.find().filter((n) => n.id !== current.id && n.spec?.desired_role === 'MANAGER');
        if (others.length === 0) throw failedPrecondition('attempting to demote the last manager of the swarm');
        if (this.#raft?.managerStatus(current.id) !== undefined && !this.#raft.canRemove(current.id)) {
          throw failedPrecondition("can't remove member from the raft: this would result in a loss of quorum");
        }
      }
      if (spec.membership === 'PENDING' && current.spec?.membership === 'ACCEPTED') {
        throw invalidArgument('a node that was accepted cannot go back to pending membership');
      }
      return tx.nodes.update({
        ...current,
        meta: { ...current.meta, version },
        spec: { ...spec, annotations: spec.annotations ?? current.spec?.annotations ?? null },
      });
    });
    return { node: this.#withManagerStatus(this.#committed('nodes', node)) };
  }

  /**
   * Removes a node from the cluster's records (the orchestrators replace its tasks).
   * @throws NotFound; FailedPrecondition for a manager (demote it first) or
   *   for a node that is not down, unless `force`.
   */
  async removeNode(req: RemoveNodeRequest__Output): Promise<Record<string, never>> {
    await this.#store.update((tx) => {
      const node = resolveRef(tx, 'nodes', req.node_id);
      const raftMember = this.#raft ? this.#raft.managerStatus(node.id) !== undefined : node.role === 'MANAGER';
      if (node.spec?.desired_role === 'MANAGER' || raftMember) {
        throw failedPrecondition(
          `node ${node.id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`,
        );
      }
      if (!req.force && node.status?.state === 'READY') {
        throw failedPrecondition(`node ${node.id} is not down and can't be removed; stop it first, or use --force`);
      }
      tx.nodes.delete(node.id);
      // Remembered, so that no later leader lets the node's certificate back in
      // (the dispatcher refuses sessions of removed nodes).
      const cluster = tx.clusters.find()[0];
      if (cluster && !cluster.removed_nodes.some((r) => r.id === node.id)) {
        cluster.removed_nodes = [...cluster.removed_nodes, { id: node.id, expiry: null }];
        tx.clusters.update(cluster);
      }
    });
    return {};
  }

  // ---------- services ----------

  /** @throws NotFound; InvalidArgument for an empty or ambiguous reference. */
  getService(req: GetServiceRequest__Output): GetServiceResponse {
    return { service: this.#store.view((tx) => resolveRef(tx, 'services', req.service_id)) };
  }

  listServices(req: ListServicesRequest__Output): ListServicesResponse {
    const f = req.filters;
    const services = this.#store.view((tx) => tx.services.find()).filter((s) => {
      if (!f) return true;
      const mode = s.spec ? specMode(s.spec) : undefined;
      return (
        anyName(s.spec?.annotations?.name ?? '', f.names) &&
        anyPrefix(s.id, f.id_prefixes) &&
        matchLabels(s.spec?.annotations?.labels, f.labels) &&
        (f.modes.length === 0 || (mode !== undefined && f.modes.includes(modeName(mode))))
      );
    });
    return { services };
  }

  /**
   * Validates a spec and creates the service in one store update; a spec
   * without a name gets a random one.
   * @throws InvalidArgument for a bad spec or a published port in use;
   *   AlreadyExists ("name conflicts with an existing object"); NotFound for
   *   an unknown network.
   */
  async createService(req: CreateServiceRequest__Output): Promise<CreateServiceResponse> {
    validateServiceSpec(req.spec);
    const spec = req.spec as ServiceSpec__Output;
    const named = (spec.annotations?.name ?? '') !== '';
    for (let attempt = 0; ; attempt++) {
      const name = named ? (spec.annotations?.name ?? '') : randomServiceName(attempt);
      try {
        const service = await this.#store.update((tx) => {
          const withName: ServiceSpec__Output = {
            ...spec,
            annotations: { name, labels: spec.annotations?.labels ?? {} },
            task: resolveNetworks(tx, spec),
          };
          checkNameFree(tx, name, '');
          checkPortConflicts(tx, withName, '');
          const created: Service = { id: newObjectId(), spec: withName, spec_version: { index: '1' } };
          return tx.services.create(created);
        }).then((written) => this.#committed('services', written));
        this.#log.info('service created', { 'service.id': service.id, 'service.name': name });
        return { service };
      } catch (err) {
        if (named || !isAlreadyExists(err) || attempt >= MAX_NAME_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * Replaces a service's spec (or rolls back to the previous one), keeping the
   * old spec for rollback and bumping spec_version when the spec changed.
   * @throws InvalidArgument (bad spec, no version, renaming, mode change, port
   *   in use); NotFound; FailedPrecondition when there is nothing to roll
   *   back to; Conflict when the service changed after the caller read it.
   */
  async updateService(req: UpdateServiceRequest__Output): Promise<UpdateServiceResponse> {
    const version = requireVersion(req.service_version, 'service');
    const rollback = req.rollback === 'PREVIOUS';
    if (!rollback) validateServiceSpec(req.spec);
    const service = await this.#store.update((tx) => {
      const current = resolveRef(tx, 'services', req.service_id);
      const currentName = current.spec?.annotations?.name ?? '';
      let next: ServiceSpec__Output;
      if (rollback) {
        if (!current.previous_spec) {
          throw failedPrecondition(`service ${currentName} does not have a previous spec to roll back to`);
        }
        next = current.previous_spec;
      } else {
        const spec = req.spec as ServiceSpec__Output;
        const name = spec.annotations?.name ?? '';
        if (name !== '' && name !== currentName) throw invalidArgument('renaming services is not supported');
        next = { ...spec, annotations: { name: currentName, labels: spec.annotations?.labels ?? {} } };
        next = { ...next, task: resolveNetworks(tx, next) };
      }
      const before = current.spec ? specMode(current.spec) : undefined;
      const after = specMode(next);
      if (before !== after) {
        throw invalidArgument(
          `service mode change is not allowed (from ${before ? modeName(before) : 'none'} to ${after ? modeName(after) : 'none'}); remove the service and create it again`,
        );
      }
      if (!isDeepStrictEqual(next.endpoint, current.spec?.endpoint)) checkPortConflicts(tx, next, current.id);
      if (isDeepStrictEqual(withoutModeTag(next), withoutModeTag(current.spec))) {
        // Nothing changed: still check the caller's version, write nothing.
        if (version.index !== current.meta?.version?.index) {
          tx.services.update({ ...current, meta: { ...current.meta, version } });
        }
        return current;
      }
      return tx.services.update({
        ...current,
        meta: { ...current.meta, version },
        spec: next,
        spec_version: nextVersion(current.spec_version),
        previous_spec: current.spec,
        previous_spec_version: current.spec_version,
        update_status: null,
      });
    });
    return { service: this.#committed('services', service) };
  }

  /** @throws NotFound; InvalidArgument for an empty or ambiguous reference. */
  async removeService(req: RemoveServiceRequest__Output): Promise<Record<string, never>> {
    await this.#store.update((tx) => {
      const s = resolveRef(tx, 'services', req.service_id);
      tx.services.delete(s.id);
    });
    return {};
  }

  // ---------- tasks ----------

  /** @throws NotFound; InvalidArgument for an empty or ambiguous reference. */
  getTask(req: GetTaskRequest__Output): GetTaskResponse {
    return { task: this.#store.view((tx) => resolveRef(tx, 'tasks', req.task_id)) };
  }

  listTasks(req: ListTasksRequest__Output): ListTasksResponse {
    const f = req.filters;
    const tasks = this.#store.view((tx) => {
      let found: Task__Output[];
      if (f && f.service_ids.length > 0) found = f.service_ids.flatMap((id) => tx.tasks.find(byService(id)));
      else if (f && f.node_ids.length > 0) found = f.node_ids.flatMap((id) => tx.tasks.find(byNode(id)));
      else if (f && f.id_prefixes.length === 1) found = tx.tasks.find(byIdPrefix(f.id_prefixes[0] ?? ''));
      else found = tx.tasks.find(all);
      if (!f) return found;
      const versions = new Map<string, string>();
      if (f.up_to_date) for (const s of tx.services.find()) versions.set(s.id, s.spec_version?.index ?? '0');
      return found.filter(
        (t) =>
          anyName(taskName(t), f.names) &&
          anyPrefix(t.id, f.id_prefixes) &&
          matchLabels(t.annotations?.labels, f.labels) &&
          (f.service_ids.length === 0 || f.service_ids.includes(t.service_id)) &&
          (f.node_ids.length === 0 || f.node_ids.includes(t.node_id)) &&
          (f.desired_states.length === 0 || f.desired_states.includes(t.desired_state)) &&
          (!f.up_to_date || versions.get(t.service_id) === (t.spec_version?.index ?? '0')),
      );
    });
    return { tasks };
  }

  // ---------- clusters ----------

  /** @throws NotFound; InvalidArgument for an empty or ambiguous reference. */
  getCluster(req: GetClusterRequest__Output): GetClusterResponse {
    return { cluster: redact(this.#store.view((tx) => resolveRef(tx, 'clusters', req.cluster_id))) };
  }

  listClusters(): ListClustersResponse {
    return { clusters: this.#store.view((tx) => tx.clusters.find()).map(redact) };
  }

  /**
   * Replaces the cluster spec and rotates the join tokens asked for.
   * @throws InvalidArgument (bad spec, no version); NotFound;
   *   FailedPrecondition when rotating without a root CA; Conflict.
   */
  async updateCluster(req: UpdateClusterRequest__Output): Promise<UpdateClusterResponse> {
    const version = requireVersion(req.cluster_version, 'cluster');
    const spec = req.spec;
    validateClusterSpec(spec);
    const cluster = await this.#store.update((tx) => {
      const current = resolveRef(tx, 'clusters', req.cluster_id);
      const next: Cluster = {
        ...current,
        meta: { ...current.meta, version },
        spec: { ...spec, annotations: { name: current.spec?.annotations?.name ?? '', labels: spec.annotations?.labels ?? {} } },
      };
      const rot = req.rotation;
      if (rot && (rot.worker_join_token || rot.manager_join_token)) {
        const ca = current.root_ca;
        if (!ca || ca.ca_cert_hash === '') {
          throw failedPrecondition('the cluster has no root CA, so it has no join tokens to rotate; initialise the swarm first');
        }
        let tokens = ca.join_tokens;
        if (rot.worker_join_token) tokens = rotateJoinToken(tokens, 'WORKER', ca.ca_cert_hash);
        if (rot.manager_join_token) tokens = rotateJoinToken(tokens, 'MANAGER', ca.ca_cert_hash);
        next.root_ca = { ...ca, join_tokens: tokens };
      }
      return tx.clusters.update(next);
    }).then((written) => this.#committed('clusters', written));
    if (req.rotation?.worker_join_token || req.rotation?.manager_join_token) {
      this.#log.info('join tokens rotated', { worker: req.rotation.worker_join_token, manager: req.rotation.manager_join_token });
    }
    return { cluster: redact(cluster) };
  }
}

/** The spec without proto-loader's oneof tag, which a stored spec may lack. */
function withoutModeTag(spec: ServiceSpec__Output | null | undefined): unknown {
  if (!spec) return spec;
  const { mode: _mode, ...rest } = spec;
  return rest;
}

/** @throws AlreadyExists when another service has the name. */
function checkNameFree(tx: ReadTx, name: string, selfId: string): void {
  validateName(name);
  const other = tx.services.find(byName(name)).find((s) => s.id !== selfId);
  if (other) {
    throw alreadyExists(`name conflicts with an existing object: a service named ${name} already exists (${other.id})`);
  }
}

const portKey = (port: number, protocol: string): string => `${port}/${protocol}`;

/**
 * swarmkit's best-effort check that ingress-published ports are free across
 * services (host-mode ports are the scheduler's business).
 * @throws InvalidArgument naming the service that holds the port.
 */
function checkPortConflicts(tx: ReadTx, spec: ServiceSpec__Output, selfId: string): void {
  const wanted = new Set(
    (spec.endpoint?.ports ?? [])
      .filter((p) => p.published_port > 0 && p.publish_mode === 'INGRESS')
      .map((p) => portKey(p.published_port, p.protocol)),
  );
  if (wanted.size === 0) return;
  for (const other of tx.services.find()) {
    if (other.id === selfId) continue;
    const ports = [...(other.spec?.endpoint?.ports ?? []), ...(other.endpoint?.ports ?? [])];
    for (const p of ports) {
      if (p.publish_mode === 'INGRESS' && wanted.has(portKey(p.published_port, p.protocol))) {
        throw invalidArgument(
          `port '${p.published_port}' is already in use by service '${other.spec?.annotations?.name ?? ''}' (${other.id}) as an ingress port`,
        );
      }
    }
  }
}

/**
 * The task spec with its network references (names or IDs) turned into IDs.
 * @throws NotFound for an unknown network.
 */
function resolveNetworks(tx: ReadTx | WriteTx, spec: ServiceSpec__Output): ServiceSpec__Output['task'] {
  const task = spec.task;
  if (!task || task.networks.length === 0) return task;
  return {
    ...task,
    networks: task.networks.map((n) => {
      const net = findRef(tx, 'networks', n.target);
      if (!net) throw notFound(`network ${n.target} not found`);
      return { ...n, target: net.id };
    }),
  };
}

