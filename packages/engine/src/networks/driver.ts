// The seam between the network service and the drivers that build networks:
// bridge now; overlay (VXLAN) comes with the swarm.
import type { EndpointState, NetworkRecord } from './types.js';

export interface JoinOptions {
  /** The namespace file of the container's sandbox. */
  netns: string;
  /** Route the container's default traffic through this network's gateway. */
  defaultRoute: boolean;
  signal?: AbortSignal;
}

export interface NetworkDriver {
  readonly name: string;
  /** Brings up the network's host side (idempotent). Throws Internal. */
  up(n: NetworkRecord, signal?: AbortSignal): Promise<void>;
  /** Removes the network's host side (idempotent). Throws Internal. */
  down(n: NetworkRecord): Promise<void>;
  /** Plugs an endpoint into a sandbox: its interface, address and routes. Throws Internal. */
  join(n: NetworkRecord, ep: EndpointState, o: JoinOptions): Promise<void>;
  /** Unplugs an endpoint (idempotent; a sandbox that is gone is fine). Throws Internal. */
  leave(n: NetworkRecord, ep: EndpointState): Promise<void>;
}
