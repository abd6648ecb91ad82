export type { DriverCapabilities, DriverVolume, VolumeDriver } from './driver.js';
export { LocalDriver, type LocalDriverOptions } from './local-driver.js';
export { parseLocalOptions, type LocalMountPlan } from './local-options.js';
export type { ContainerVolumes, MountPoint } from './mount-point.js';
export { PluginClient, PluginError, type PluginClientOptions } from './plugin-client.js';
export { PluginDriver } from './plugin-driver.js';
export { PluginRegistry, type PluginRegistryOptions } from './plugin-registry.js';
export {
  ANONYMOUS_LABEL,
  VolumeService,
  containerVolumes,
  type ContainerLookup,
  type CreateVolumeOptions,
  type VolumeServiceOptions,
  type VolumeView,
} from './volume-service.js';
