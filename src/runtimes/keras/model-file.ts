import type * as tf from '@tensorflow/tfjs-core';
import type { File } from 'h5wasm/node';
import { InvalidModelError } from '../runtime.js';
import {
  childGroup,
  openHdf5,
  readFloatWeights,
  stringAttribute,
  stringListAttribute,
} from './hdf5.js';

/**
 * Reads a Keras 2 `model.save()` HDF5 file into TF.js model artifacts: the `model_config`
 * root attribute is the topology, and the `model_weights` group holds one group per layer
 * whose `weight_names` attribute lists its datasets in order.
 */
export async function readKerasModel(path: string): Promise<tf.io.ModelArtifacts> {
  const file = await openHdf5(path);
  try {
    const modelConfig = readModelConfig(file);
    const { specs, data } = readWeights(file);
    return {
      modelTopology: modelConfig,
      format: 'layers-model',
      weightSpecs: specs,
      weightData: data,
    };
  } finally {
    file.close();
  }
}

function readModelConfig(file: File): Record<string, unknown> {
  const version = stringAttribute(file, 'keras_version') ?? 'unknown';
  const text = stringAttribute(file, 'model_config');
  if (text === undefined) {
    const hasWeights = 'layer_names' in file.attrs || childGroup(file, 'model_weights');
    throw new InvalidModelError(
      hasWeights
        ? 'the HDF5 file holds weights but no model architecture (no model_config attribute): ' +
            'it was written by save_weights(); save the whole model with model.save() instead'
        : 'the HDF5 file is not a Keras model: it has no model_config attribute',
    );
  }
  if (version.startsWith('3.')) throw keras3(version);
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    throw new InvalidModelError(`model_config is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof config !== 'object' || config === null || !('class_name' in config)) {
    throw new InvalidModelError('model_config has no class_name: it is not a Keras model config');
  }
  if (usesKeras3Config(config)) {
    throw new InvalidModelError(
      'the model_config is in the Keras 3 format (it has batch_shape or registered_name keys) ' +
        `although keras_version is ${version}; Steward loads Keras 2 configs, so save the ` +
        "model with Keras 2 (tf.keras or tf_keras) as model.save('model.h5')",
    );
  }
  const backend = stringAttribute(file, 'backend');
  if (backend !== undefined && backend !== 'tensorflow') {
    // Theano stores convolution kernels flipped, which TF.js would read as different kernels.
    throw new InvalidModelError(
      `the model was saved with the ${backend} backend; Steward loads Keras models saved with ` +
        'the tensorflow backend',
    );
  }
  return config as Record<string, unknown>;
}

function keras3(version: string): InvalidModelError {
  return new InvalidModelError(
    `the model was saved by Keras 3 (keras_version ${version}), whose config format Steward ` +
      "does not load; save it with Keras 2 (tf.keras or tf_keras) as model.save('model.h5')",
  );
}

/**
 * Keras 3 configs name input shapes `batch_shape` instead of `batch_input_shape` and record
 * each layer's `module` and `registered_name`; Keras 2 configs have none of these keys.
 */
function usesKeras3Config(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(usesKeras3Config);
  if (typeof node !== 'object' || node === null) return false;
  const record = node as Record<string, unknown>;
  if ('batch_shape' in record || 'registered_name' in record) return true;
  return Object.values(record).some(usesKeras3Config);
}

function readWeights(file: File): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer[] } {
  const group = childGroup(file, 'model_weights');
  if (!group) {
    throw new InvalidModelError('the HDF5 file has a model_config but no model_weights group');
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const data: ArrayBuffer[] = [];
  for (const layer of stringListAttribute(group, 'layer_names')) {
    const layerGroup = childGroup(group, layer);
    if (!layerGroup) {
      throw new InvalidModelError(`layer "${layer}" is listed in model_weights but has no group`);
    }
    for (const weight of stringListAttribute(layerGroup, 'weight_names')) {
      const { values, shape } = readFloatWeights(file, `model_weights/${layer}/${weight}`);
      // TF.js names weights as Keras does, without the ":0" output index TensorFlow appends.
      specs.push({ name: weight.replace(/:\d+$/, ''), shape, dtype: 'float32' });
      data.push(
        (values.buffer as ArrayBuffer).slice(
          values.byteOffset,
          values.byteOffset + values.byteLength,
        ),
      );
    }
  }
  return { specs, data };
}
