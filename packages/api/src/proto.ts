// The engine's gRPC service definitions. They are built from the reflection
// JSON that scripts/gen-proto.mjs precompiles from proto/, never from .proto
// text: parsing the protos (protobufjs' parser) and building proto-loader's
// descriptor protos cost every CLI start 50–100 ms. Static imports on purpose:
// the CLI's bundler can follow them (a createRequire it cannot), and the CLI
// loads this module only in commands that talk to the daemon.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { makeClientConstructor } from '@grpc/grpc-js';
import type * as Grpc from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs/light.js';
import type * as Protobuf from 'protobufjs/light.js';
import { engineDescriptor } from './gen/engine-descriptor.js';
import type { ProtoGrpcType as ImagesProto } from './gen/images.js';
import type { ProtoGrpcType as ContainersProto } from './gen/containers.js';
import type { ProtoGrpcType as SystemProto } from './gen/system.js';
import type { ProtoGrpcType as VolumesProto } from './gen/volumes.js';
import type { ProtoGrpcType as NetworksProto } from './gen/networks.js';
import type { ProtoGrpcType as ControlProto } from './gen/control.js';
import type { ProtoGrpcType as DispatcherProto } from './gen/dispatcher.js';
import type { ProtoGrpcType as CaProto } from './gen/ca.js';
import type { ProtoGrpcType as SwarmLocalProto } from './gen/swarm.js';
import { swarmDescriptor } from './gen/swarm-descriptor.js';

/** Must equal the flags of scripts/gen-proto.mjs. */
export const LOADER_OPTIONS: ProtoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The .proto sources (engineProto() itself loads the precompiled descriptor). */
export const PROTO_ROOT = fileURLToPath(new URL('../../../proto', import.meta.url));

type EngineProto = ImagesProto & ContainersProto & SystemProto & VolumesProto & NetworksProto;
type EngineNamespace = EngineProto['shoal']['engine']['v1'];
type SwarmProto = ControlProto & DispatcherProto & CaProto & SwarmLocalProto;
type SwarmNamespace = SwarmProto['shoal']['swarm']['v1'];

const require = createRequire(import.meta.url);

/** One precompiled API: its service constructors are built once, its message definitions on demand. */
class CompiledApi<T> {
  private cached: T | undefined;
  private full: ProtoLoader.PackageDefinition | undefined;

  constructor(
    private readonly descriptor: Protobuf.INamespace,
    private readonly pkgName: string,
  ) {}

  namespace(): T {
    if (this.cached) return this.cached;
    const root = protobuf.Root.fromJSON(this.descriptor);
    const pkg = root.lookup(this.pkgName);
    if (!(pkg instanceof protobuf.Namespace)) throw new Error(`The descriptor has no package ${this.pkgName}; run npm run gen.`);
    const ns: Record<string, unknown> = {};
    for (const obj of pkg.nestedArray) {
      if (obj instanceof protobuf.Service) {
        ns[obj.name] = makeClientConstructor(serviceDefinition(obj, () => this.fullDefinition()), obj.name, {});
      } else {
        Object.defineProperty(ns, obj.name, {
          enumerable: true,
          configurable: true,
          get: () => this.fullDefinition()[`${this.pkgName}.${obj.name}`],
        });
      }
    }
    this.cached = ns as unknown as T;
    return this.cached;
  }

  /**
   * proto-loader's full package definition (with descriptor protos), built on
   * demand; required lazily because nothing on a hot path needs it.
   */
  private fullDefinition(): ProtoLoader.PackageDefinition {
    this.full ??= (require('@grpc/proto-loader') as typeof ProtoLoader).fromJSON(this.descriptor, LOADER_OPTIONS);
    return this.full;
  }
}

const engineApi = new CompiledApi<EngineNamespace>(engineDescriptor, 'shoal.engine.v1');
const swarmApi = new CompiledApi<SwarmNamespace>(swarmDescriptor, 'shoal.swarm.v1');

/**
 * The engine's gRPC service definitions and client constructors (built once).
 * Messages convert exactly as proto-loader's loadSync with LOADER_OPTIONS
 * would convert them. Message and enum type definitions (rarely used) are
 * built by proto-loader on first access. Throws only when the generated
 * descriptor is broken (rerun `npm run gen`).
 */
export function engineProto(): EngineNamespace {
  return engineApi.namespace();
}

/**
 * The cluster's gRPC services (Control, Dispatcher, NodeCA, RaftMembership, and
 * the daemon-local Swarm) and their messages, built
 * like engineProto(). Throws only when the generated descriptor is broken.
 */
export function swarmProto(): SwarmNamespace {
  return swarmApi.namespace();
}

function serviceDefinition(service: Protobuf.Service, fullDefinition: () => ProtoLoader.PackageDefinition): Grpc.ServiceDefinition {
  const def: Record<string, Grpc.MethodDefinition<object, object>> = {};
  const serviceName = service.fullName.slice(1);
  for (const method of service.methodsArray) {
    method.resolve();
    const req = method.resolvedRequestType;
    const res = method.resolvedResponseType;
    if (!req || !res) throw new Error(`The descriptor cannot resolve ${serviceName}.${method.name}; run npm run gen.`);
    const m: Grpc.MethodDefinition<object, object> = {
      path: `/${serviceName}/${method.name}`,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      requestSerialize: serializer(req),
      requestDeserialize: deserializer(req),
      responseSerialize: serializer(res),
      responseDeserialize: deserializer(res),
      // proto-loader's camelCase of a PascalCase rpc name; server handlers may use either.
      originalName: method.name.charAt(0).toLowerCase() + method.name.slice(1),
    };
    // proto-loader's extra method fields, kept for source compatibility. Not
    // enumerable, because makeClientConstructor copies enumerable ones eagerly.
    for (const key of ['requestType', 'responseType', 'options'] as const) {
      Object.defineProperty(m, key, {
        enumerable: false,
        configurable: true,
        get: () => (fullDefinition()[serviceName] as ProtoLoader.ServiceDefinition)[method.name]?.[key],
      });
    }
    def[method.name] = m;
  }
  return def;
}

// The same conversions as proto-loader's createSerializer/createDeserializer.
function serializer(type: Protobuf.Type): (value: object) => Buffer {
  return (value) => {
    if (Array.isArray(value)) {
      throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
    }
    return type.encode(type.fromObject(value)).finish() as Buffer;
  };
}

function deserializer(type: Protobuf.Type): (bytes: Buffer) => object {
  return (bytes) => type.toObject(type.decode(bytes), LOADER_OPTIONS);
}
