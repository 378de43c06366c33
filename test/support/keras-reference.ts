/**
 * An independent forward pass for small Keras 2 models, written from the Keras layer
 * definitions: it reads model_config and the weights with h5wasm and computes in float64,
 * one sample at a time. It covers the layers of the Keras fixtures (Dense, Activation,
 * Dropout, InputLayer, Reshape, ZeroPadding2D, Conv2D, MaxPooling2D, Flatten, Embedding,
 * LSTM) for Sequential models and functional models that are a plain chain of layers.
 */
import h5wasm, { type Dataset, type File } from 'h5wasm/node';

/** One sample's values in row-major order with its shape, without the batch axis. */
interface Value {
  readonly shape: number[];
  readonly data: number[];
}

type LayerSpec = { class_name: string; config: Record<string, any> };
type Weights = Record<string, { values: number[]; shape: number[] }>;

export interface KerasReference {
  /** Runs the model on one sample (without the batch axis) and returns the flat output. */
  predict(sample: readonly number[], inputShape: readonly number[]): number[];
}

export async function kerasReference(path: string): Promise<KerasReference> {
  await h5wasm.ready;
  const file = new h5wasm.File(path, 'r');
  try {
    const config = JSON.parse(file.attrs.model_config!.value as string);
    const layers: LayerSpec[] = Array.isArray(config.config) ? config.config : config.config.layers;
    const weights = new Map(
      layers.map((layer) => [layer.config.name, readLayer(file, layer.config.name)]),
    );
    return {
      predict(sample, inputShape) {
        let value: Value = { shape: [...inputShape], data: [...sample] };
        for (const layer of layers) value = apply(layer, weights.get(layer.config.name)!, value);
        return value.data;
      },
    };
  } finally {
    file.close();
  }
}

/** Reads a layer's weights keyed by their last name component, such as kernel or bias. */
function readLayer(file: File, layer: string): Weights {
  const group = file.get(`model_weights/${layer}`);
  if (!group) return {};
  const names = (group as any).attrs.weight_names?.value;
  const weights: Weights = {};
  for (const name of Array.isArray(names) ? names : []) {
    const dataset = file.get(`model_weights/${layer}/${name}`) as Dataset;
    const base = String(name).split('/').pop()!.replace(/:\d+$/, '');
    weights[base] = { values: Array.from(dataset.value as Float32Array), shape: dataset.shape! };
  }
  return weights;
}

function apply(layer: LayerSpec, weights: Weights, input: Value): Value {
  const config = layer.config;
  switch (layer.class_name) {
    case 'InputLayer':
    case 'Dropout':
      return input;
    case 'Activation':
      return activate(input, config.activation);
    case 'Reshape':
      return { shape: [...config.target_shape], data: input.data };
    case 'Flatten':
      return { shape: [input.data.length], data: input.data };
    case 'Dense':
      return activate(dense(input, weights), config.activation);
    case 'ZeroPadding2D':
      return zeroPad(input, config.padding);
    case 'Conv2D':
      return activate(conv2d(input, weights), config.activation);
    case 'MaxPooling2D':
      return maxPool(input, config.pool_size);
    case 'Embedding':
      return embedding(input, weights);
    case 'LSTM':
      return lstm(input, weights, config);
    default:
      throw new Error(`the reference has no ${layer.class_name} layer`);
  }
}

/** Dense on the last axis: y = x W + b. */
function dense(input: Value, weights: Weights): Value {
  const [inputs, units] = weights.kernel!.shape as [number, number];
  const kernel = weights.kernel!.values;
  const bias = weights.bias?.values ?? new Array(units).fill(0);
  const rows = input.data.length / inputs;
  const data: number[] = [];
  for (let row = 0; row < rows; row += 1) {
    for (let unit = 0; unit < units; unit += 1) {
      let sum = bias[unit]!;
      for (let i = 0; i < inputs; i += 1)
        sum += input.data[row * inputs + i]! * kernel[i * units + unit]!;
      data.push(sum);
    }
  }
  return { shape: [...input.shape.slice(0, -1), units], data };
}

function activate(input: Value, activation: string): Value {
  if (activation === 'softmax') {
    const width = input.shape[input.shape.length - 1]!;
    const data: number[] = [];
    for (let start = 0; start < input.data.length; start += width) {
      const row = input.data.slice(start, start + width);
      const max = Math.max(...row);
      const exps = row.map((x) => Math.exp(x - max));
      const total = exps.reduce((a, b) => a + b, 0);
      data.push(...exps.map((x) => x / total));
    }
    return { shape: input.shape, data };
  }
  return { shape: input.shape, data: input.data.map(scalarActivation(activation)) };
}

function scalarActivation(name: string): (x: number) => number {
  switch (name) {
    case 'linear':
      return (x) => x;
    case 'relu':
      return (x) => Math.max(0, x);
    case 'tanh':
      return Math.tanh;
    case 'sigmoid':
      return (x) => 1 / (1 + Math.exp(-x));
    case 'hard_sigmoid':
      // Keras 2: clip(0.2 x + 0.5, 0, 1).
      return (x) => Math.min(1, Math.max(0, 0.2 * x + 0.5));
    default:
      throw new Error(`the reference has no ${name} activation`);
  }
}

function zeroPad(input: Value, padding: [[number, number], [number, number]]): Value {
  const [height, width, channels] = input.shape as [number, number, number];
  const [[top, bottom], [left, right]] = padding;
  const outHeight = height + top + bottom;
  const outWidth = width + left + right;
  const data = new Array(outHeight * outWidth * channels).fill(0);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      for (let c = 0; c < channels; c += 1) {
        data[((y + top) * outWidth + x + left) * channels + c] =
          input.data[(y * width + x) * channels + c];
      }
    }
  }
  return { shape: [outHeight, outWidth, channels], data };
}

/** Computes a valid convolution with stride 1. Keras lays kernels out as [height, width, in, out]. */
function conv2d(input: Value, weights: Weights): Value {
  const [height, width, channels] = input.shape as [number, number, number];
  const [kh, kw, , filters] = weights.kernel!.shape as [number, number, number, number];
  const kernel = weights.kernel!.values;
  const bias = weights.bias!.values;
  const outHeight = height - kh + 1;
  const outWidth = width - kw + 1;
  const data: number[] = [];
  for (let y = 0; y < outHeight; y += 1) {
    for (let x = 0; x < outWidth; x += 1) {
      for (let f = 0; f < filters; f += 1) {
        let sum = bias[f]!;
        for (let dy = 0; dy < kh; dy += 1) {
          for (let dx = 0; dx < kw; dx += 1) {
            for (let c = 0; c < channels; c += 1) {
              const pixel = input.data[((y + dy) * width + x + dx) * channels + c]!;
              sum += pixel * kernel[((dy * kw + dx) * channels + c) * filters + f]!;
            }
          }
        }
        data.push(sum);
      }
    }
  }
  return { shape: [outHeight, outWidth, filters], data };
}

function maxPool(input: Value, pool: [number, number]): Value {
  const [height, width, channels] = input.shape as [number, number, number];
  const [ph, pw] = pool;
  const outHeight = Math.floor(height / ph);
  const outWidth = Math.floor(width / pw);
  const data: number[] = [];
  for (let y = 0; y < outHeight; y += 1) {
    for (let x = 0; x < outWidth; x += 1) {
      for (let c = 0; c < channels; c += 1) {
        let max = Number.NEGATIVE_INFINITY;
        for (let dy = 0; dy < ph; dy += 1) {
          for (let dx = 0; dx < pw; dx += 1) {
            max = Math.max(max, input.data[((y * ph + dy) * width + x * pw + dx) * channels + c]!);
          }
        }
        data.push(max);
      }
    }
  }
  return { shape: [outHeight, outWidth, channels], data };
}

function embedding(input: Value, weights: Weights): Value {
  const [, size] = weights.embeddings!.shape as [number, number];
  const table = weights.embeddings!.values;
  const data = input.data.flatMap((id) => table.slice(id * size, id * size + size));
  return { shape: [...input.shape, size], data };
}

/** Keras 2 LSTM: gates in the order input, forget, cell, output. */
function lstm(input: Value, weights: Weights, config: Record<string, any>): Value {
  const [steps, features] = input.shape as [number, number];
  const units = config.units as number;
  const act = scalarActivation(config.activation);
  const gate = scalarActivation(config.recurrent_activation);
  const kernel = weights.kernel!.values;
  const recurrent = weights.recurrent_kernel!.values;
  const bias = weights.bias!.values;
  let h = new Array(units).fill(0);
  let c = new Array(units).fill(0);
  const sequence: number[] = [];

  for (let t = 0; t < steps; t += 1) {
    const z: number[] = bias.slice();
    for (let j = 0; j < 4 * units; j += 1) {
      for (let i = 0; i < features; i += 1)
        z[j]! += input.data[t * features + i]! * kernel[i * 4 * units + j]!;
      for (let i = 0; i < units; i += 1) z[j]! += h[i]! * recurrent[i * 4 * units + j]!;
    }

    const nextC: number[] = [];
    const nextH: number[] = [];
    for (let u = 0; u < units; u += 1) {
      const inputGate = gate(z[u]!);
      const forgetGate = gate(z[units + u]!);
      const cell = forgetGate * c[u]! + inputGate * act(z[2 * units + u]!);
      const outputGate = gate(z[3 * units + u]!);
      nextC.push(cell);
      nextH.push(outputGate * act(cell));
    }
    c = nextC;
    h = nextH;
    sequence.push(...h);
  }
  return config.return_sequences
    ? { shape: [steps, units], data: sequence }
    : { shape: [units], data: h };
}
