/**
 * Latency buckets on a logarithmic scale: bucket i counts latencies up to 0.01 ms * 2^(i/4), so
 * each bucket is about 19% wider than the one before, from 10 microseconds to about 5 minutes.
 * Percentiles interpolate inside a bucket, so they are estimates within that width.
 */
export const BUCKET_COUNT = 100;
const BASE_MS = 0.01;
const STEPS_PER_DOUBLING = 4;

export function bucketUpperBound(index: number): number {
  return BASE_MS * 2 ** (index / STEPS_PER_DOUBLING);
}

export function bucketOf(ms: number): number {
  if (!(ms > BASE_MS)) return 0;
  const index = Math.ceil(STEPS_PER_DOUBLING * Math.log2(ms / BASE_MS));
  return Math.min(BUCKET_COUNT - 1, index);
}

/** Estimates a percentile (0-100) from bucket counts; returns null without samples. */
export function percentile(buckets: ReadonlyMap<number, number>, p: number): number | null {
  let total = 0;
  for (const count of buckets.values()) total += count;
  if (total === 0) return null;
  const rank = (p / 100) * total;
  const ordered = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  let seen = 0;
  for (const [index, count] of ordered) {
    if (count === 0) continue;
    if (seen + count >= rank) {
      const lower = index === 0 ? 0 : bucketUpperBound(index - 1);
      const upper = bucketUpperBound(index);
      const fraction = count === 0 ? 1 : Math.max(0, rank - seen) / count;
      return lower + (upper - lower) * fraction;
    }
    seen += count;
  }
  return bucketUpperBound(ordered[ordered.length - 1]![0]);
}
