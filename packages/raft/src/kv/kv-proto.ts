// The KV service's gRPC definition (proto/shoal/raft/v1/kv.proto), built with
// protobufjs: packages/raft is a leaf and may not use @shoal/api's generated
// code. Field names keep the .proto's snake_case; uint64 become numbers.
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

export const KV_PROTO_FILE = fileURLToPath(new URL('../../../../proto/shoal/raft/v1/kv.proto', import.meta.url));

export interface KvPutRequest { key: string; value: Uint8Array }
export interface KvWriteResponse { index: number }
export interface KvGetRequest { key: string; linearizable: boolean }
export interface KvGetResponse { found: boolean; value: Uint8Array; index: number }
export interface KvCasRequest { key: string; expected: Uint8Array; value: Uint8Array; expect_absent: boolean }
export interface KvCasResponse { succeeded: boolean; found: boolean; current: Uint8Array; index: number }
export type KvStatusRequest = Record<string, never>;
export interface KvMember { id: string; addr: string; client_addr: string }
export interface KvStatusResponse {
  id: string;
  state: string;
  term: number;
  leader_id: string;
  leader_client_addr: string;
  commit: number;
  applied: number;
  last_index: number;
  snapshot_index: number;
  state_hash: string;
  keys: number;
  voters: string[];
  learners: string[];
  members: KvMember[];
}
export interface KvMemberRequest { id: string; addr: string; client_addr: string; learner_only: boolean }
export interface KvMemberResponse { voters: string[]; learners: string[] }

const METHODS = {
  Put: ['KvPutRequest', 'KvWriteResponse'],
  Append: ['KvPutRequest', 'KvWriteResponse'],
  Get: ['KvGetRequest', 'KvGetResponse'],
  Cas: ['KvCasRequest', 'KvCasResponse'],
  Status: ['KvStatusRequest', 'KvStatusResponse'],
  AddMember: ['KvMemberRequest', 'KvMemberResponse'],
  RemoveMember: ['KvMemberRequest', 'KvMemberResponse'],
} as const;
export type KvMethod = keyof typeof METHODS;

let definition: grpc.ServiceDefinition | undefined;

function codec(t: protobuf.Type) {
  return {
    serialize: (v: object): Buffer => Buffer.from(t.encode(t.fromObject(v)).finish()),
    deserialize: (b: Buffer): object => t.toObject(t.decode(b), { longs: Number, defaults: true, arrays: true }),
  };
}

/** The KV service definition for grpc-js (server addService and client makeUnaryRequest). */
export function kvServiceDefinition(): grpc.ServiceDefinition {
  if (definition) return definition;
  const root = new protobuf.Root();
  root.loadSync(KV_PROTO_FILE, { keepCase: true });
  const def: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const [name, [req, res]] of Object.entries(METHODS)) {
    const rq = codec(root.lookupType(`shoal.raft.v1.${req}`));
    const rs = codec(root.lookupType(`shoal.raft.v1.${res}`));
    def[name] = {
      path: `/shoal.raft.v1.KV/${name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: rq.serialize,
      requestDeserialize: rq.deserialize,
      responseSerialize: rs.serialize,
      responseDeserialize: rs.deserialize,
    };
  }
  definition = def;
  return definition;
}
