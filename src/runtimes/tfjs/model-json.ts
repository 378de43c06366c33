import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { InvalidModelError } from '../runtime.js';

const BYTES_PER_ELEMENT: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  float16: 2,
  uint8: 1,
  uint16: 2,
};

/**
 * Reads a TF.js model.json and the weight files its manifest names into model artifacts.
 * Rejects a manifest whose files are missing, outside the folder, or of the wrong total size.
 */
export async function readModelJson(folder: string): Promise<tf.io.ModelArtifacts> {
  const file = path.join(folder, 'model.json');
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8')) as tf.io.ModelJSON;
  } catch (error) {
    throw new InvalidModelError(`model.json could not be read: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (typeof json.modelTopology !== 'object' || json.modelTopology === null) {
    throw new InvalidModelError('model.json has no "modelTopology" object');
  }
  return tf.io.getModelArtifactsForJSON(json, (manifest) => readWeights(folder, manifest));
}

async function readWeights(
  folder: string,
  manifest: tf.io.WeightsManifestConfig,
): Promise<[tf.io.WeightsManifestEntry[], ArrayBuffer[]]> {
  const paths = manifest.flatMap((group) => group.paths);
  const missing: string[] = [];
  const shards: ArrayBuffer[] = [];
  for (const shard of paths) {
    const target = path.resolve(folder, shard);
    if (!target.startsWith(folder + path.sep)) {
      throw new InvalidModelError(`weight file "${shard}" in model.json points outside the model`);
    }
    try {
      const bytes = await fs.readFile(target);
      shards.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    } catch {
      missing.push(shard);
    }
  }
  if (missing.length > 0) {
    throw new InvalidModelError(
      `model.json names weight file${missing.length > 1 ? 's' : ''} that the archive lacks: ` +
        `${missing.map((name) => `"${name}"`).join(', ')}`,
    );
  }
  const specs = manifest.flatMap((group) => group.weights);
  checkTotalSize(specs, shards);
  return [specs, shards];
}

/** Compares the shards' size with what the manifest's weights need, when that is computable. */
function checkTotalSize(specs: tf.io.WeightsManifestEntry[], shards: ArrayBuffer[]): void {
  let expected = 0;
  for (const spec of specs) {
    const dtype = spec.quantization?.dtype ?? spec.dtype;
    const size = BYTES_PER_ELEMENT[dtype];
    // String weights carry their own lengths, so their size is not known in advance.
    if (size === undefined) return;
    expected += spec.shape.reduce((product, dim) => product * dim, 1) * size;
  }
  const actual = shards.reduce((total, shard) => total + shard.byteLength, 0);
  if (actual !== expected) {
    throw new InvalidModelError(
      `the weight files hold ${actual} bytes, but the ${specs.length} weights in model.json need ${expected}`,
    );
  }
}
