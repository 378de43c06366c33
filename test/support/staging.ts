import { call } from './http.js';

/** A seeded pseudo-random generator (mulberry32), so every run sends the same inputs. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One-row digits requests of random 8x8 images with pixel values 0 to 16. */
export function randomDigitsRequests(count: number, seed: number): object[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => ({
    inputs: [
      {
        name: 'pixels',
        datatype: 'FP32',
        shape: [1, 64],
        data: Array.from({ length: 64 }, () => Math.floor(random() * 17)),
      },
    ],
  }));
}

/** Runs `task` for each index with at most `concurrency` running at once; results in order. */
export async function runConcurrently<T>(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const index = next;
      next += 1;
      results[index] = await task(index);
    }
  });
  await Promise.all(lanes);
  return results;
}

/**
 * Polls the comparison of a model until `done` holds, and returns it. Shadow runs start after
 * their responses were sent, so a test waits for them here.
 */
export async function waitForComparison(
  url: string,
  model: string,
  done: (comparison: any) => boolean,
  timeoutMs = 20_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    last = (await call(`${url}/api/v1/models/${model}/comparison`)).body;
    if (done(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`comparison of ${model} did not settle: ${JSON.stringify(last?.shadow ?? last)}`);
}

/** Returns a check that every mirrored request of a comparison was compared, failed or dropped. */
export function settled(expectedMirrored: number): (comparison: any) => boolean {
  return (comparison) =>
    comparison.active === true &&
    comparison.shadow.mirrored === expectedMirrored &&
    comparison.shadow.pending === 0;
}

/** Sets a model's staging overrides through the API and checks the response status. */
export async function setStaging(
  url: string,
  model: string,
  settings: Record<string, unknown>,
): Promise<any> {
  const response = await call(`${url}/api/v1/models/${model}/staging`, {
    method: 'PUT',
    json: settings,
  });
  if (response.status !== 200) {
    throw new Error(`setting staging of ${model} failed: ${JSON.stringify(response.body)}`);
  }
  return response.body;
}

/** Returns the index of the largest value of each row of a flat [rows, columns] array. */
export function argmaxRows(data: readonly number[], columns: number): number[] {
  const winners: number[] = [];
  for (let start = 0; start < data.length; start += columns) {
    let best = start;
    for (let index = start + 1; index < start + columns; index += 1) {
      if (data[index]! > data[best]!) best = index;
    }
    winners.push(best - start);
  }
  return winners;
}
