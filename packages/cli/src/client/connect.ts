// The gRPC clients for one daemon. Loaded only by commands that talk to the
// daemon, so `shoal --help` never pays for grpc-js and proto parsing.
import { credentials, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { engineProto, fromServiceError, swarmProto, type ShoalError } from '@shoal/api';
import type { ContainersClient } from '@shoal/api/gen/shoal/engine/v1/Containers';
import type { ImagesClient } from '@shoal/api/gen/shoal/engine/v1/Images';
import type { SystemClient } from '@shoal/api/gen/shoal/engine/v1/System';
import type { VolumesClient } from '@shoal/api/gen/shoal/engine/v1/Volumes';
import type { NetworksClient } from '@shoal/api/gen/shoal/engine/v1/Networks';
import type { ControlClient } from '@shoal/api/gen/shoal/swarm/v1/Control';
import type { SwarmClient } from '@shoal/api/gen/shoal/swarm/v1/Swarm';
import { UsageError } from '../cli-error.js';

export interface Clients {
  containers: ContainersClient;
  images: ImagesClient;
  system: SystemClient;
  volumes: VolumesClient;
  networks: NetworksClient;
  /** The cluster API; the local daemon serves it when it is a manager (forwarding to the leader). */
  control: ControlClient;
  /** The local daemon's swarm membership (init, join, leave, join-token). */
  swarm: SwarmClient;
  close(): void;
}

/**
 * Turns `-H`/SHOAL_HOST into a grpc-js target: unix:///path, unix:/path, /path, tcp://h:p, h:p.
 * Throws UsageError for an unsupported scheme.
 */
export function grpcTarget(host: string): string {
  if (host.startsWith('unix://')) return `unix://${host.slice('unix://'.length)}`;
  if (host.startsWith('unix:')) return `unix://${host.slice('unix:'.length)}`;
  if (host.startsWith('/')) return `unix://${host}`;
  if (host.startsWith('tcp://')) return host.slice('tcp://'.length);
  if (/^[^/:]+:\d+$/.test(host)) return host;
  throw new UsageError(`invalid host "${host}": use unix:///path/to/shoald.sock or tcp://host:port`);
}

/** Connects (lazily; the channel opens on the first call). Throws UsageError for a bad host. */
export function connect(host: string): Clients {
  const target = grpcTarget(host);
  const proto = engineProto();
  const creds = credentials.createInsecure();
  // Unix sockets: no proxy, no per-call name resolution surprises.
  const opts = { 'grpc.enable_http_proxy': 0 };
  const containers = new proto.Containers(target, creds, opts);
  const images = new proto.Images(target, creds, opts);
  const system = new proto.System(target, creds, opts);
  const volumes = new proto.Volumes(target, creds, opts);
  const networks = new proto.Networks(target, creds, opts);
  // Built on first use: the swarm descriptor costs engine-only commands nothing then.
  let control: ControlClient | undefined;
  let swarm: SwarmClient | undefined;
  return {
    containers,
    images,
    system,
    volumes,
    networks,
    get control(): ControlClient {
      control ??= new (swarmProto().Control)(target, creds, opts);
      return control;
    },
    get swarm(): SwarmClient {
      swarm ??= new (swarmProto().Swarm)(target, creds, opts);
      return swarm;
    },
    close() {
      containers.close();
      images.close();
      system.close();
      volumes.close();
      networks.close();
      control?.close();
      swarm?.close();
    },
  };
}

/**
 * Runs one unary call and resolves with its response; cancels it when `signal` aborts.
 * Throws the daemon's error as a ShoalError.
 */
export function unary<T>(
  start: (cb: (err: ServiceError | null, res?: T) => void) => ClientUnaryCall,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const call = start((err, res) => {
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(fromServiceError(err));
      else resolve(res as T);
    });
    const onAbort = (): void => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Rebuilds a ShoalError from anything a stream threw. */
export function streamError(err: unknown): ShoalError {
  return fromServiceError(err);
}
