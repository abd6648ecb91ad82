export { parseConstraints, nodeMatches, constraintMatches, nodeAttribute, firstUnmet } from './constraint.js';
export type { Constraint, ConstraintKey, ConstraintOperator } from './constraint.js';
export { parseSpreadDescriptor, spreadValue } from './preference.js';
export type { SpreadKey } from './preference.js';
