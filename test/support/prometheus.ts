import { createRequire } from 'node:module';

/** One metric family as parse-prometheus-text-format returns it; values stay strings. */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  readonly metrics: ReadonlyArray<{
    readonly value?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly buckets?: Readonly<Record<string, string>>;
    readonly count?: string;
    readonly sum?: string;
  }>;
}

// The package ships CommonJS without type declarations, so it is typed here at the boundary.
const require = createRequire(import.meta.url);
const parse = require('parse-prometheus-text-format') as (text: string) => MetricFamily[];

/** Parses the Prometheus text format with a real parser. */
export function parsePrometheus(text: string): MetricFamily[] {
  return parse(text);
}

/** Returns the value of the sample with exactly these labels, or undefined. */
export function sampleValue(
  families: readonly MetricFamily[],
  name: string,
  labels: Record<string, string>,
): number | undefined {
  const family = families.find((entry) => entry.name === name);
  const wanted = JSON.stringify(Object.entries(labels).sort());
  const metric = family?.metrics.find(
    (entry) => JSON.stringify(Object.entries(entry.labels ?? {}).sort()) === wanted,
  );
  return metric?.value === undefined ? undefined : Number(metric.value);
}
