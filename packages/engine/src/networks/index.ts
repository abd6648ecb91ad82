export { NetworkService, DEFAULT_BRIDGE, type CreateNetworkRequest, type NetworkFilter, type NetworkServiceOptions } from './service.js';
export { parseAddressPool, DEFAULT_POOLS, type AddressPool, type IpamConfig } from './ipam.js';
export type { NetworkRecord, EndpointState, PortMapping, ContainerNetworking } from './types.js';
