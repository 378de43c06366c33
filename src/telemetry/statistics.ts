import type { UsageSnapshot } from './usage.js';

/**
 * Builds one entry of `model_stats` in Triton's statistics extension. Durations are whole
 * nanoseconds. `batch_stats` is empty because Steward runs every request on its own, and
 * `cache_hit` stays zero because it has no response cache. `memory_usage` lists the measured
 * memory of a loaded version as CPU memory, and is empty while the version is not loaded.
 */
export function modelStatistics(
  model: string,
  version: number,
  usage: UsageSnapshot,
  memoryBytes: number,
) {
  const pair = (stage: keyof UsageSnapshot['stages']) => ({
    count: usage.stages[stage].count,
    ns: Math.round(usage.stages[stage].ns),
  });
  return {
    name: model,
    version: String(version),
    last_inference: usage.lastUsedAt === null ? 0 : Date.parse(usage.lastUsedAt),
    inference_count: usage.inferenceCount,
    execution_count: usage.executionCount,
    inference_stats: {
      success: pair('success'),
      fail: pair('fail'),
      queue: pair('queue'),
      compute_input: pair('compute_input'),
      compute_infer: pair('compute_infer'),
      compute_output: pair('compute_output'),
      cache_hit: { count: 0, ns: 0 },
    },
    batch_stats: [],
    memory_usage: memoryBytes > 0 ? [{ type: 'CPU', id: 0, byte_size: memoryBytes }] : [],
  };
}
