import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { InvalidModelError } from '../runtime.js';

/**
 * Keras 2 layers that TF.js layers 4.22 does not implement. A class outside both this list
 * and TF.js's registry is taken to be a custom class.
 */
const KERAS_ONLY_LAYERS = new Set([
  'ActivityRegularization',
  'AdditiveAttention',
  'Attention',
  'Conv1DTranspose',
  'ConvLSTM1D',
  'ConvLSTM3D',
  'Cropping1D',
  'Cropping3D',
  'DepthwiseConv1D',
  'Discretization',
  'GlobalAveragePooling3D',
  'GlobalMaxPooling3D',
  'GroupNormalization',
  'Hashing',
  'IntegerLookup',
  'LocallyConnected1D',
  'LocallyConnected2D',
  'MultiHeadAttention',
  'Normalization',
  'RandomContrast',
  'RandomCrop',
  'RandomFlip',
  'RandomHeight',
  'RandomRotation',
  'RandomTranslation',
  'RandomZoom',
  'SeparableConv1D',
  'SpatialDropout2D',
  'SpatialDropout3D',
  'StringLookup',
  'Subtract',
  'TextVectorization',
  'UnitNormalization',
  'UpSampling1D',
  'UpSampling3D',
  'ZeroPadding1D',
  'ZeroPadding3D',
]);

interface LayerConfig {
  readonly class_name?: unknown;
  readonly config?: unknown;
}

/**
 * Rejects a Keras model config that TF.js cannot build, naming every offending layer: Lambda
 * layers (their Python function is not in the file), Keras layers TF.js lacks, and custom
 * classes. Nested models and wrapped layers (TimeDistributed, Bidirectional, RNN cells) are
 * checked too.
 */
export function checkLayerClasses(modelConfig: unknown): void {
  const registered = tf.serialization.SerializationMap.getMap().classNameMap;
  const problems: string[] = [];
  for (const layer of layersOf(modelConfig)) {
    const className = String(layer.class_name);
    if (className in registered) continue;
    const name = nameOf(layer);
    if (className === 'Lambda') {
      problems.push(
        `layer "${name}" is a Lambda layer, whose Python function the file does not hold`,
      );
    } else if (KERAS_ONLY_LAYERS.has(className)) {
      problems.push(`layer "${name}" has class ${className}, which TF.js does not implement`);
    } else {
      problems.push(`layer "${name}" has the custom class ${className}`);
    }
  }
  if (problems.length === 0) return;
  throw new InvalidModelError(
    `TF.js cannot build these layers: ${problems.join('; ')}. Replace them with built-in ` +
      'Keras layers that TF.js supports, or export the model to ONNX',
  );
}

/** Yields every layer config in a model config, depth first, including the model's own. */
function* layersOf(node: unknown): Generator<LayerConfig> {
  if (!isLayerConfig(node)) return;
  yield node;
  const config = node.config;
  const children: unknown[] = Array.isArray(config)
    ? config
    : isObject(config)
      ? [
          ...(Array.isArray(config.layers) ? config.layers : []),
          config.layer,
          config.cell,
          ...(Array.isArray(config.cells) ? config.cells : []),
          config.forward_layer,
          config.backward_layer,
        ]
      : [];
  for (const child of children) yield* layersOf(child);
}

function nameOf(layer: LayerConfig): string {
  const config = layer.config;
  if (isObject(config) && typeof config.name === 'string') return config.name;
  const outer = (layer as Record<string, unknown>).name;
  return typeof outer === 'string' ? outer : 'unnamed';
}

function isLayerConfig(value: unknown): value is LayerConfig {
  return isObject(value) && typeof value.class_name === 'string';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
