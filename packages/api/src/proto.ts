import { fileURLToPath } from 'node:url';
import { loadSync, type Options } from '@grpc/proto-loader';
import { loadPackageDefinition, type GrpcObject } from '@grpc/grpc-js';
import type { ProtoGrpcType as ImagesProto } from './gen/images.js';
import type { ProtoGrpcType as ContainersProto } from './gen/containers.js';
import type { ProtoGrpcType as SystemProto } from './gen/system.js';

/** Must equal the flags of scripts/gen-proto.mjs. */
export const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export const PROTO_ROOT = fileURLToPath(new URL('../../../proto', import.meta.url));

type EngineProto = ImagesProto & ContainersProto & SystemProto;

let cached: EngineProto['shoal']['engine']['v1'] | undefined;

/** The engine's gRPC service definitions and client constructors (loaded once). */
export function engineProto(): EngineProto['shoal']['engine']['v1'] {
  if (cached) return cached;
  const def = loadSync(
    ['shoal/engine/v1/images.proto', 'shoal/engine/v1/containers.proto', 'shoal/engine/v1/system.proto'],
    { ...LOADER_OPTIONS, includeDirs: [PROTO_ROOT] },
  );
  const loaded = loadPackageDefinition(def) as unknown as EngineProto & GrpcObject;
  cached = loaded.shoal.engine.v1;
  return cached;
}
