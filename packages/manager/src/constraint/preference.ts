// Placement preferences: `--placement-pref spread=node.labels.zone` spreads a
// service's tasks evenly over the values of a node label. Nodes without the
// label form one more group of their own (the empty value), as in Docker.
import { invalidArgument } from '@shoal/api';
import type { Node__Output } from '@shoal/api';

export interface SpreadKey {
  readonly kind: 'node.labels' | 'engine.labels';
  readonly label: string;
}

const LABEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$/;

/**
 * Parses a spread descriptor ("node.labels.zone", "engine.labels.rack").
 * @throws ShoalError InvalidArgument naming the descriptor and the accepted forms.
 */
export function parseSpreadDescriptor(descriptor: string): SpreadKey {
  const d = descriptor.trim();
  const lower = d.toLowerCase();
  for (const kind of ['node.labels', 'engine.labels'] as const) {
    const prefix = `${kind}.`;
    if (lower.startsWith(prefix)) {
      const label = d.slice(prefix.length);
      if (LABEL_NAME.test(label)) return { kind, label };
      break;
    }
  }
  throw invalidArgument(
    `Invalid placement preference "spread=${descriptor}": spread over node.labels.NAME or engine.labels.NAME, e.g. spread=node.labels.zone.`,
  );
}

/** The node's value for a spread key; "" when it lacks the label. */
export function spreadValue(key: SpreadKey, node: Node__Output): string {
  const labels = key.kind === 'node.labels' ? node.spec?.annotations?.labels : node.description?.engine?.labels;
  return labels?.[key.label] ?? '';
}
