export { ControlServer } from './control-server.js';
export type { ControlServerDeps, RaftMembers } from './control-server.js';
export { findRef, resolveRef } from './refs.js';
export type { RefTable } from './refs.js';
export {
  MAX_NAME_LENGTH,
  modeName,
  specMode,
  validateClusterSpec,
  validateEndpointSpec,
  validateName,
  validateNodeSpec,
  validatePlacement,
  validateResourceRequirements,
  validateRestartPolicy,
  validateServiceSpec,
  validateTaskSpec,
} from './validate.js';
export type { ServiceModeName } from './validate.js';
