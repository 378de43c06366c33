import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Signature, Tensor, TensorSpec } from '../../tensors/types.js';
import { InvalidModelError, type LoadedModel } from '../runtime.js';
import { useCpuBackend } from './backend.js';
import { checkLayerClasses } from './layer-checks.js';
import { classifyRunError } from './run-errors.js';
import { datatypeOf, fromTfTensor, specShape, toTfTensor } from './tensors.js';

/**
 * Builds a TF.js layers model from artifacts whose topology is a Keras model config, with
 * strict weight loading: every weight of the model must be in the artifacts and every
 * weight in the artifacts must belong to the model.
 */
export async function loadLayersModel(artifacts: tf.io.ModelArtifacts): Promise<LoadedModel> {
  await useCpuBackend();
  const topology = artifacts.modelTopology as Record<string, unknown> | undefined;
  checkLayerClasses(topology?.model_config ?? topology);
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(tf.io.fromMemory(artifacts), { strict: true });
  } catch (error) {
    throw new InvalidModelError(
      `TF.js could not build the model: ${(error as Error).message ?? String(error)}`,
      { cause: error },
    );
  }
  try {
    return new LayersModelRunner(model);
  } catch (error) {
    model.dispose();
    throw error;
  }
}

class LayersModelRunner implements LoadedModel {
  readonly signature: Signature;
  readonly #model: tfl.LayersModel;

  constructor(model: tfl.LayersModel) {
    this.#model = model;
    this.signature = {
      inputs: specsOf(model.inputs, 'input'),
      outputs: specsOf(model.outputs, 'output'),
    };
  }

  async run(inputs: readonly Tensor[], outputNames: readonly string[]): Promise<Tensor[]> {
    const byName = new Map(inputs.map((input) => [input.name, input]));
    const ordered = this.signature.inputs.map((spec) => {
      const input = byName.get(spec.name);
      if (!input) throw new Error(`input "${spec.name}" is missing`);
      return input;
    });
    const batch = Math.max(1, ordered[0]?.shape[0] ?? 1);
    let results: tf.Tensor[];
    try {
      results = tf.tidy(() => {
        const xs = ordered.map(toTfTensor);
        // One batch of the request's size: predict would otherwise split it into batches of 32.
        const ys = this.#model.predict(xs.length === 1 ? xs[0]! : xs, { batchSize: batch });
        return Array.isArray(ys) ? ys : [ys];
      });
    } catch (error) {
      throw classifyRunError(error);
    }
    try {
      const names = this.signature.outputs.map((spec) => spec.name);
      const selected = outputNames.length > 0 ? outputNames : names;
      return selected.map((name) => fromTfTensor(name, results[names.indexOf(name)]!));
    } finally {
      tf.dispose(results);
    }
  }

  async dispose(): Promise<void> {
    this.#model.dispose();
  }
}

/**
 * Names tensors after the layers that produce them, as Keras does: `dense_1_input` for the
 * input of a Sequential model whose first layer is `dense_1`, the layer name for an output.
 */
function specsOf(tensors: readonly tfl.SymbolicTensor[], role: 'input' | 'output'): TensorSpec[] {
  const seen = new Map<string, number>();
  return tensors.map((tensor) => {
    let name = tensor.sourceLayer.name;
    const count = seen.get(name) ?? 0;
    seen.set(name, count + 1);
    if (count > 0) name = `${name}_${count}`;
    return {
      name,
      datatype: datatypeOf(tensor.dtype, `${role} "${name}"`),
      shape: specShape(tensor.shape),
    };
  });
}
