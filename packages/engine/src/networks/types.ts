// What the network service persists: networks under <data-root>/network/,
// and each container's endpoints in its record (ContainerRecord.network).
import type { IpamConfig } from './ipam.js';

export interface NetworkRecord {
  id: string;
  name: string;
  /** "bridge", "host" or "null". */
  driver: string;
  scope: 'local';
  created: string;
  internal: boolean;
  attachable: boolean;
  labels: Record<string, string>;
  /** Driver options (`-o`), e.g. com.docker.network.bridge.name. */
  options: Record<string, string>;
  ipam: IpamConfig[];
  /** The bridge device ("shoal0", "br-<id12>"); "" for host/null. */
  bridge: string;
  /** The default `bridge`, `host` and `none`: never removed. */
  predefined: boolean;
}

/** One container's attachment to one network. */
export interface EndpointState {
  networkId: string;
  endpointId: string;
  ipAddress: string;
  prefixLen: number;
  gateway: string;
  macAddress: string;
  aliases: string[];
  /** The address the user asked for (--ip), kept so it survives a restart. */
  requestedIp: string;
  /** The interface inside the container (eth0, eth1, …). */
  ifName: string;
  /** The host end of the veth pair while the sandbox exists. */
  hostVeth: string;
}

/** One published port, with the host port chosen at start. */
export interface PortMapping {
  containerPort: number;
  protocol: string;
  hostIp: string;
  hostPort: number;
}

/** ContainerRecord.network: everything the network service keeps for one container. */
export interface ContainerNetworking {
  /** Keyed by network ID, in attach order. */
  endpoints: Record<string, EndpointState>;
  /** The netns file while the sandbox exists ("" otherwise). */
  sandboxKey: string;
  /** The ports published by the running sandbox. */
  ports: PortMapping[];
  /** Every exposed port ("80/tcp"): the image's, --expose and the published ones. */
  exposed: string[];
  /** The --link environment variables added to the process at the last start. */
  linkEnv?: string[];
}
