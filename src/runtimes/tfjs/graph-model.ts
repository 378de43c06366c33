import * as tfconv from '@tensorflow/tfjs-converter';
import * as tf from '@tensorflow/tfjs-core';
import type { Signature, Tensor, TensorSpec } from '../../tensors/types.js';
import { InvalidModelError, type LoadedModel } from '../runtime.js';
import { useCpuBackend } from './backend.js';
import { classifyRunError } from './run-errors.js';
import { datatypeOf, fromTfTensor, specShape, toTfTensor } from './tensors.js';

/** Loads a TF.js graph model (a frozen TensorFlow graph converted by the TF.js converter). */
export async function loadGraphModel(artifacts: tf.io.ModelArtifacts): Promise<LoadedModel> {
  await useCpuBackend();
  let model: tfconv.GraphModel;
  try {
    model = await tfconv.loadGraphModel(tf.io.fromMemory(artifacts));
  } catch (error) {
    throw new InvalidModelError(
      `TF.js could not load the graph model: ${(error as Error).message ?? String(error)}`,
      { cause: error },
    );
  }
  try {
    return new GraphModelRunner(model);
  } catch (error) {
    model.dispose();
    throw error;
  }
}

class GraphModelRunner implements LoadedModel {
  readonly signature: Signature;
  readonly #model: tfconv.GraphModel;
  /** Set once a run needed executeAsync, which graphs with control flow or dynamic shapes do. */
  #needsAsync = false;

  constructor(model: tfconv.GraphModel) {
    this.#model = model;
    this.signature = {
      inputs: model.inputs.map((info) => specOf(info, 'input')),
      outputs: model.outputs.map((info) => specOf(info, 'output')),
    };
  }

  async run(inputs: readonly Tensor[], outputNames: readonly string[]): Promise<Tensor[]> {
    const names =
      outputNames.length > 0 ? [...outputNames] : this.signature.outputs.map((o) => o.name);
    const feeds: tf.NamedTensorMap = {};
    for (const input of inputs) feeds[input.name] = toTfTensor(input);
    let results: tf.Tensor[] = [];
    try {
      results = await this.#execute(feeds, names);
      return names.map((name, index) => fromTfTensor(name, results[index]!));
    } catch (error) {
      throw classifyRunError(error);
    } finally {
      tf.dispose(Object.values(feeds));
      tf.dispose(results);
    }
  }

  async dispose(): Promise<void> {
    this.#model.dispose();
  }

  async #execute(feeds: tf.NamedTensorMap, names: string[]): Promise<tf.Tensor[]> {
    if (!this.#needsAsync) {
      try {
        return asArray(this.#model.execute(feeds, names));
      } catch (error) {
        // execute() rejects graphs with dynamic ops and names executeAsync() in its message.
        if (!String((error as Error).message).includes('executeAsync')) throw error;
        this.#needsAsync = true;
      }
    }
    return asArray(await this.#model.executeAsync(feeds, names));
  }
}

function asArray(result: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
  return Array.isArray(result) ? result : [result];
}

function specOf(info: tf.ModelTensorInfo, role: 'input' | 'output'): TensorSpec {
  // NOTE: a graph without a signature may leave an output's dtype unset; FP32 is reported
  // then, and a run returns the datatype of the actual tensor.
  const dtype = info.dtype ?? (role === 'output' ? 'float32' : undefined);
  return {
    name: info.name,
    datatype: datatypeOf(dtype, `${role} "${info.name}"`),
    shape: specShape(info.shape),
  };
}
