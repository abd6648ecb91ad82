// Placement constraints ("node.role==manager", "node.labels.zone!=b"): parsed
// once when a service is created or updated (so bad input is refused before it
// reaches the store) and matched against nodes by the scheduler, the global
// orchestrator and the constraint enforcer. Semantics follow Docker swarm mode:
// keys are case-insensitive except the label name, values compare
// case-insensitively, and a missing attribute reads as the empty string (so
// `node.labels.zone!=a` holds on a node without a zone label).
import { invalidArgument } from '@shoal/api';
import type { Node__Output } from '@shoal/api';

export type ConstraintOperator = '==' | '!=';

/** The node attribute a constraint reads. */
export type ConstraintKey =
  | { readonly kind: 'node.id' }
  | { readonly kind: 'node.hostname' }
  | { readonly kind: 'node.role' }
  | { readonly kind: 'node.platform.os' }
  | { readonly kind: 'node.platform.arch' }
  | { readonly kind: 'node.labels'; readonly label: string }
  | { readonly kind: 'engine.labels'; readonly label: string };

export interface Constraint {
  /** The expression as the user wrote it (trimmed), for messages. */
  readonly expr: string;
  readonly key: ConstraintKey;
  readonly operator: ConstraintOperator;
  /** The expected value, compared case-insensitively. */
  readonly value: string;
}

const NODE_LABEL_PREFIX = 'node.labels.';
const ENGINE_LABEL_PREFIX = 'engine.labels.';
const FIXED_KEYS = ['node.id', 'node.hostname', 'node.role', 'node.platform.os', 'node.platform.arch'] as const;

/** Label names: what Docker accepts in `--label-add` keys, minus separators that would be operators. */
const LABEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$/;
/**
 * Values: letters, digits and a few punctuation marks; never characters of
 * current or future operators (`<`, `>`, `~`, `=`, `!`).
 */
const VALUE = /^[A-Za-z0-9:\-_\s.*()?+[\]\\^$|/@]+$/;

const ACCEPTED_FORMS =
  'accepted forms are KEY==VALUE and KEY!=VALUE with KEY one of node.id, node.hostname, node.role, ' +
  'node.platform.os, node.platform.arch, node.labels.NAME, engine.labels.NAME';

function bad(expr: string, why: string): Error {
  return invalidArgument(`Invalid constraint "${expr}": ${why}; ${ACCEPTED_FORMS}.`);
}

function parseKey(expr: string, raw: string): ConstraintKey {
  const lower = raw.toLowerCase();
  for (const fixed of FIXED_KEYS) {
    if (lower === fixed) return { kind: fixed };
  }
  for (const [prefix, kind] of [
    [NODE_LABEL_PREFIX, 'node.labels'],
    [ENGINE_LABEL_PREFIX, 'engine.labels'],
  ] as const) {
    if (lower.startsWith(prefix)) {
      // The label name keeps its case: labels are case-sensitive.
      const label = raw.slice(prefix.length);
      if (label === '') throw bad(expr, `the key "${raw}" names no label`);
      if (!LABEL_NAME.test(label)) throw bad(expr, `the label name "${label}" has characters labels cannot have`);
      return { kind, label };
    }
  }
  if (raw === '') throw bad(expr, 'the key is empty');
  throw bad(expr, `unknown key "${raw}"`);
}

/**
 * Parses placement constraint expressions.
 *
 * Throws ShoalError(InvalidArgument) naming the first bad expression and the
 * accepted forms: no operator, an unknown key, an empty or malformed label
 * name, or an empty or malformed value.
 */
export function parseConstraints(exprs: readonly string[]): Constraint[] {
  const out: Constraint[] = [];
  for (const original of exprs) {
    const expr = original.trim();
    // The first operator in the text wins, so "a==b!=c" fails on its value
    // rather than being read as "a==b" != "c".
    const eq = expr.indexOf('==');
    const ne = expr.indexOf('!=');
    let at: number;
    let operator: ConstraintOperator;
    if (eq < 0 && ne < 0) throw bad(expr, 'it has no operator');
    if (ne < 0 || (eq >= 0 && eq < ne)) {
      at = eq;
      operator = '==';
    } else {
      at = ne;
      operator = '!=';
    }
    const rawKey = expr.slice(0, at).trim();
    const value = expr.slice(at + 2).trim();
    const key = parseKey(expr, rawKey);
    if (value === '') throw bad(expr, 'the value is empty');
    if (!VALUE.test(value)) throw bad(expr, `the value "${value}" has characters values cannot have (such as = ! < > ~)`);
    out.push({ expr, key, operator, value });
  }
  return out;
}

/** The attribute a key reads on a node; a missing one reads as "". */
export function nodeAttribute(key: ConstraintKey, node: Node__Output): string {
  switch (key.kind) {
    case 'node.id':
      return node.id;
    case 'node.hostname':
      return node.description?.hostname ?? '';
    case 'node.role':
      return node.role.toLowerCase();
    case 'node.platform.os':
      return node.description?.platform?.os ?? '';
    case 'node.platform.arch':
      return node.description?.platform?.architecture ?? '';
    case 'node.labels':
      return node.spec?.annotations?.labels[key.label] ?? '';
    case 'engine.labels':
      return node.description?.engine?.labels[key.label] ?? '';
  }
}

/** Whether one constraint holds on a node. */
export function constraintMatches(c: Constraint, node: Node__Output): boolean {
  const actual = nodeAttribute(c.key, node);
  const equal = actual.toLowerCase() === c.value.toLowerCase();
  return c.operator === '==' ? equal : !equal;
}

/** Whether a node satisfies every constraint (an empty list matches every node). */
export function nodeMatches(constraints: readonly Constraint[], node: Node__Output): boolean {
  for (const c of constraints) {
    if (!constraintMatches(c, node)) return false;
  }
  return true;
}

/** The first constraint a node fails, if any (for explanations). */
export function firstUnmet(constraints: readonly Constraint[], node: Node__Output): Constraint | undefined {
  return constraints.find((c) => !constraintMatches(c, node));
}
