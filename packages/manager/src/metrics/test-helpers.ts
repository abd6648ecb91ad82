// Reading figures back out of a registry, for the metrics tests.
import type { Registry } from 'prom-client';

export interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** Every sample of `name` (histograms: its _bucket/_sum/_count samples), collected now. */
export async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const all = (await registry.getMetricsAsJSON()) as Array<{ name: string; values: Sample[] }>;
  return all.find((m) => m.name === name)?.values ?? [];
}

/**
 * The value of the one sample of `name` whose labels include `labels`;
 * undefined when there is none.
 * @throws Error when several samples match.
 */
export async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const matching = (await samples(registry, name)).filter((s) =>
    Object.entries(labels).every(([k, v]) => String(s.labels[k]) === v),
  );
  if (matching.length > 1) throw new Error(`${matching.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matching[0]?.value;
}
