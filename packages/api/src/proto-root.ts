import { join } from 'node:path';
import protobuf from 'protobufjs';
import { PROTO_ROOT } from './proto.js';

/** protobufjs reflection types, for packages that encode messages from proto/ (the store). */
export type ProtoRoot = protobuf.Root;
export type ProtoType = protobuf.Type;
export type ProtoField = protobuf.Field;
export type ProtoEnum = protobuf.Enum;

/**
 * Loads .proto files (paths relative to proto/) into one protobufjs Root with
 * keepCase, for reflection-based encoding. Throws protobufjs's parse error.
 */
export function loadProtoRoot(files: string[]): ProtoRoot {
  const r = new protobuf.Root();
  // google/protobuf/* come from protobufjs's bundled definitions.
  r.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(PROTO_ROOT, target));
  r.loadSync(files, { keepCase: true });
  r.resolveAll();
  return r;
}

/** protobufjs's Long-aware conversion helpers and classes, for instanceof checks. */
export const protoReflection = {
  Type: protobuf.Type,
  Field: protobuf.Field,
  Enum: protobuf.Enum,
  MapField: protobuf.MapField,
  util: protobuf.util,
};
