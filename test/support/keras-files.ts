/**
 * Writes Keras 2 style HDF5 files with h5wasm, laid out as `model.save()` lays them out:
 * root attributes keras_version, backend and model_config, and a model_weights group with
 * one group per layer. Tests use them for cases no real fixture covers.
 */
import { readFile, writeFile } from 'node:fs/promises';
import h5wasm from 'h5wasm/node';

export interface WeightSpec {
  /** The weight's name as Keras writes it, such as "dense_1/kernel:0". */
  readonly name: string;
  readonly values: Float32Array | Float64Array | Int32Array;
  readonly shape: readonly number[];
}

export interface LayerWeights {
  readonly layer: string;
  readonly weights: readonly WeightSpec[];
}

export interface KerasFileOptions {
  readonly modelConfig?: unknown;
  readonly kerasVersion?: string;
  readonly backend?: string;
  readonly layers: readonly LayerWeights[];
  /** Writes what `save_weights()` writes: layer groups at the root and no model_config. */
  readonly weightsOnly?: boolean;
}

export async function writeKerasFile(path: string, options: KerasFileOptions): Promise<void> {
  await h5wasm.ready;
  // The oldest file format keeps object headers free of checksums, so bigEndianCopy can
  // rewrite a datatype in place.
  const file = new h5wasm.File(path, 'w', { libver: ['earliest', 'v108'] });
  try {
    file.create_attribute('keras_version', options.kerasVersion ?? '2.3.1');
    file.create_attribute('backend', options.backend ?? 'tensorflow');
    if (!options.weightsOnly) {
      file.create_attribute('model_config', JSON.stringify(options.modelConfig));
    }
    const root = options.weightsOnly ? file : file.create_group('model_weights');
    root.create_attribute(
      'layer_names',
      options.layers.map((layer) => layer.layer),
    );
    for (const { layer, weights } of options.layers) {
      const group = root.create_group(layer);
      if (weights.length > 0) {
        group.create_attribute(
          'weight_names',
          weights.map((weight) => weight.name),
        );
      }
      for (const weight of weights) {
        const [prefix, base] = splitName(weight.name);
        const parent = prefix ? (group.get(prefix) ?? group.create_group(prefix)) : group;
        (parent as typeof group).create_dataset({
          name: base,
          data: weight.values,
          shape: [...weight.shape],
        });
      }
    }
  } finally {
    file.close();
  }
}

function splitName(name: string): [string, string] {
  const slash = name.lastIndexOf('/');
  return slash < 0 ? ['', name] : [name.slice(0, slash), name.slice(slash + 1)];
}

/** The IEEE float32 datatype message of HDF5, little-endian: class 1, size 4. */
const FLOAT32_LE = Buffer.from([0x11, 0x20, 0x1f, 0x00, 0x04, 0x00, 0x00, 0x00]);

/**
 * Rewrites a file from writeKerasFile as if a big-endian machine had written it: every
 * float32 datatype is marked big-endian (bit 0 of its class bit field) and the bytes of each
 * listed array are reversed per element. h5wasm cannot write big-endian data itself.
 */
export async function writeBigEndianCopy(
  source: string,
  target: string,
  arrays: readonly Float32Array[],
): Promise<void> {
  const bytes = await readFile(source);
  let flipped = 0;
  for (let at = bytes.indexOf(FLOAT32_LE); at >= 0; at = bytes.indexOf(FLOAT32_LE, at + 1)) {
    bytes[at + 1]! |= 0x01;
    flipped += 1;
  }
  if (flipped === 0) throw new Error('no float32 datatype found to flip');
  for (const array of arrays) {
    const data = Buffer.from(array.buffer, array.byteOffset, array.byteLength);
    const at = bytes.indexOf(data);
    if (at < 0) throw new Error('array bytes not found in the file');
    for (let offset = at; offset < at + data.length; offset += 4) {
      bytes.subarray(offset, offset + 4).reverse();
    }
  }
  await writeFile(target, bytes);
}

/** Builds a Keras 2.3 Sequential config: Dense(units, input [null, inputs]), then an Activation. */
export function denseSoftmaxConfig(inputs: number, units: number, extraLayers: unknown[] = []) {
  return {
    class_name: 'Sequential',
    config: {
      name: 'sequential_1',
      layers: [
        {
          class_name: 'Dense',
          config: {
            name: 'dense_1',
            trainable: true,
            batch_input_shape: [null, inputs],
            dtype: 'float32',
            units,
            activation: 'linear',
            use_bias: true,
          },
        },
        ...extraLayers,
        {
          class_name: 'Activation',
          config: {
            name: 'activation_1',
            trainable: true,
            dtype: 'float32',
            activation: 'softmax',
          },
        },
      ],
    },
  };
}

/** Weights of denseSoftmaxConfig's Dense layer, from a fixed pattern. */
export function denseWeights(inputs: number, units: number): LayerWeights[] {
  const kernel = Float32Array.from({ length: inputs * units }, (_, i) => ((i * 7) % 11) / 10 - 0.5);
  const bias = Float32Array.from({ length: units }, (_, i) => i / 10 - 0.1);
  return [
    {
      layer: 'dense_1',
      weights: [
        { name: 'dense_1/kernel:0', values: kernel, shape: [inputs, units] },
        { name: 'dense_1/bias:0', values: bias, shape: [units] },
      ],
    },
    { layer: 'activation_1', weights: [] },
  ];
}
