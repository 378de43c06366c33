/**
 * Writes small ONNX models for tests: protobuf encoding of ModelProto by hand, following
 * onnx.proto (IR version 8). The files are real ONNX models that onnxruntime loads and runs;
 * they exist because some cases (every datatype, NaN outputs, slow runs, slow loads) need
 * graphs that no trained fixture has.
 */

/** ONNX TensorProto.DataType values. */
export const ONNX_TYPES = {
  FP32: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  BYTES: 8,
  BOOL: 9,
  FP16: 10,
  FP64: 11,
  UINT32: 12,
  UINT64: 13,
} as const;

export type OnnxType = keyof typeof ONNX_TYPES;

class Writer {
  readonly #parts: Buffer[] = [];

  varint(field: number, value: number | bigint): this {
    this.#tag(field, 0);
    this.#rawVarint(BigInt(value));
    return this;
  }

  bytes(field: number, value: Buffer | string): this {
    const buffer = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    this.#tag(field, 2);
    this.#rawVarint(BigInt(buffer.length));
    this.#parts.push(buffer);
    return this;
  }

  message(field: number, writer: Writer): this {
    return this.bytes(field, writer.finish());
  }

  float(field: number, value: number): this {
    this.#tag(field, 5);
    const buffer = Buffer.alloc(4);
    buffer.writeFloatLE(value);
    this.#parts.push(buffer);
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.#parts);
  }

  #tag(field: number, wireType: number): void {
    this.#rawVarint(BigInt((field << 3) | wireType));
  }

  #rawVarint(input: bigint): void {
    // Negative int64 values are written as 10-byte two's complement varints.
    let value = input < 0n ? input + (1n << 64n) : input;
    const bytes: number[] = [];
    do {
      let byte = Number(value & 0x7fn);
      value >>= 7n;
      if (value > 0n) byte |= 0x80;
      bytes.push(byte);
    } while (value > 0n);
    this.#parts.push(Buffer.from(bytes));
  }
}

/** A graph input or output: name, datatype and shape; a string dimension is symbolic. */
export interface ValueInfo {
  readonly name: string;
  readonly type: OnnxType;
  readonly shape: ReadonlyArray<number | string>;
}

export interface Initializer {
  readonly name: string;
  readonly type: 'FP32' | 'INT64';
  readonly dims: readonly number[];
  readonly values: Float32Array | BigInt64Array;
  /** Stores the values in this file beside the model instead of inside it, at offset 0. */
  readonly externalFile?: string;
}

export interface Node {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: Readonly<Record<string, number | readonly number[]>>;
}

export interface GraphSpec {
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly nodes: readonly Node[];
  readonly initializers?: readonly Initializer[];
  readonly opset?: number;
}

function valueInfo(info: ValueInfo): Writer {
  const shape = new Writer();
  for (const dim of info.shape) {
    const dimension = new Writer();
    if (typeof dim === 'number') dimension.varint(1, dim);
    else dimension.bytes(2, dim);
    shape.message(1, dimension);
  }
  const tensorType = new Writer().varint(1, ONNX_TYPES[info.type]).message(2, shape);
  const type = new Writer().message(1, tensorType);
  return new Writer().bytes(1, info.name).message(2, type);
}

function initializer(init: Initializer): Writer {
  const tensor = new Writer();
  for (const dim of init.dims) tensor.varint(1, dim);
  tensor.varint(2, ONNX_TYPES[init.type]);
  tensor.bytes(8, init.name);
  const raw = Buffer.from(init.values.buffer, init.values.byteOffset, init.values.byteLength);
  if (init.externalFile === undefined) return tensor.bytes(9, raw);
  // TensorProto.external_data (13) lists key/value entries, and data_location (14) 1 is EXTERNAL.
  const entry = (key: string, value: string) => new Writer().bytes(1, key).bytes(2, value);
  tensor.message(13, entry('location', init.externalFile));
  tensor.message(13, entry('offset', '0'));
  tensor.message(13, entry('length', String(raw.length)));
  return tensor.varint(14, 1);
}

function node(spec: Node, index: number): Writer {
  const writer = new Writer();
  for (const input of spec.inputs) writer.bytes(1, input);
  for (const output of spec.outputs) writer.bytes(2, output);
  writer.bytes(3, `node_${index}`);
  writer.bytes(4, spec.op);
  for (const [name, value] of Object.entries(spec.attributes ?? {})) {
    const attribute = new Writer().bytes(1, name);
    if (typeof value === 'number') {
      attribute.varint(3, value).varint(20, 2);
    } else {
      for (const item of value as readonly number[]) attribute.varint(8, item);
      attribute.varint(20, 7);
    }
    writer.message(5, attribute);
  }
  return writer;
}

/** Encodes a graph as a complete ONNX model file. */
export function buildModel(spec: GraphSpec): Buffer {
  const graph = new Writer();
  for (const [index, n] of spec.nodes.entries()) graph.message(1, node(n, index));
  graph.bytes(2, 'steward_test_graph');
  for (const init of spec.initializers ?? []) graph.message(5, initializer(init));
  for (const input of spec.inputs) graph.message(11, valueInfo(input));
  for (const output of spec.outputs) graph.message(12, valueInfo(output));
  const opset = new Writer().bytes(1, '').varint(2, spec.opset ?? 13);
  return new Writer()
    .varint(1, 8)
    .bytes(2, 'steward-tests')
    .message(7, graph)
    .message(8, opset)
    .finish();
}

/** y = Identity(x): returns its input unchanged, for any datatype. */
export function identityModel(
  type: OnnxType,
  shape: ReadonlyArray<number | string> = ['n'],
): Buffer {
  return buildModel({
    inputs: [{ name: 'x', type, shape }],
    outputs: [{ name: 'y', type, shape }],
    nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
  });
}

/** y = Log(x): NaN for negative inputs and -Infinity for zero. */
export function logModel(): Buffer {
  return buildModel({
    inputs: [{ name: 'x', type: 'FP32', shape: ['n'] }],
    outputs: [{ name: 'y', type: 'FP32', shape: ['n'] }],
    nodes: [{ op: 'Log', inputs: ['x'], outputs: ['y'] }],
  });
}

/** y = x * scale: a tiny model whose outputs tell versions apart by `scale`. */
export function scaleModel(scale: number, size = 4): Buffer {
  return buildModel({
    inputs: [{ name: 'x', type: 'FP32', shape: ['n', size] }],
    outputs: [{ name: 'y', type: 'FP32', shape: ['n', size] }],
    initializers: [{ name: 'scale', type: 'FP32', dims: [], values: Float32Array.of(scale) }],
    nodes: [{ op: 'Mul', inputs: ['x', 'scale'], outputs: ['y'] }],
  });
}

/**
 * A model that takes a while to run: the scalar input is expanded to [size, size] and
 * multiplied by an identity weight `rounds` times, about rounds * size^3 multiply-adds.
 * y = x * size^2, the [1, 1] sum over the product.
 */
export function slowRunModel(size: number, rounds: number): Buffer {
  const weights = new Float32Array(size * size);
  for (let i = 0; i < size; i += 1) weights[i * size + i] = 1;
  const nodes: Node[] = [{ op: 'Expand', inputs: ['x', 'shape'], outputs: ['h0'] }];
  for (let round = 0; round < rounds; round += 1) {
    nodes.push({ op: 'MatMul', inputs: [`h${round}`, 'w'], outputs: [`h${round + 1}`] });
  }
  nodes.push({
    op: 'ReduceSum',
    inputs: [`h${rounds}`],
    outputs: ['y'],
    attributes: { keepdims: 1 },
  });
  return buildModel({
    inputs: [{ name: 'x', type: 'FP32', shape: [1, 1] }],
    outputs: [{ name: 'y', type: 'FP32', shape: [1, 1] }],
    initializers: [
      { name: 'w', type: 'FP32', dims: [size, size], values: weights },
      {
        name: 'shape',
        type: 'INT64',
        dims: [2],
        values: BigInt64Array.of(BigInt(size), BigInt(size)),
      },
    ],
    nodes,
  });
}

/**
 * A model with `megabytes` of FP32 weights that must stay in memory: y = Gather(w, indices),
 * so a run reads a few weights by index and stays cheap. Each seed gives distinct bytes.
 */
export function largeModel(megabytes: number, seed = 1): Buffer {
  const values = new Float32Array(Math.floor((megabytes * 1024 * 1024) / 4));
  for (let i = 0; i < values.length; i += 1) values[i] = ((i % 1000) + seed) / 1000;
  return gatherModel(values);
}

/** Builds the model of largeModel with zero weights, whose file compresses about 1000:1. */
export function zeroWeightModel(megabytes: number): Buffer {
  return gatherModel(new Float32Array(Math.floor((megabytes * 1024 * 1024) / 4)));
}

function gatherModel(values: Float32Array): Buffer {
  return buildModel({
    inputs: [{ name: 'indices', type: 'INT64', shape: ['n'] }],
    outputs: [{ name: 'y', type: 'FP32', shape: ['n'] }],
    initializers: [{ name: 'w', type: 'FP32', dims: [values.length], values }],
    nodes: [{ op: 'Gather', inputs: ['w', 'indices'], outputs: ['y'] }],
  });
}

/**
 * A model that takes a while to load but little to run: onnxruntime folds the constant chain
 * of `rounds` MatMuls over a [size, size] weight while it creates the session, about
 * rounds * size^3 multiply-adds. y = x + sum(w^(rounds + 1)).
 */
export function slowLoadModel(size: number, rounds: number): Buffer {
  const weights = new Float32Array(size * size);
  for (let i = 0; i < size; i += 1) weights[i * size + i] = 1;
  const nodes: Node[] = [];
  for (let round = 0; round < rounds; round += 1) {
    nodes.push({
      op: 'MatMul',
      inputs: [round === 0 ? 'w' : `m${round}`, 'w'],
      outputs: [`m${round + 1}`],
    });
  }
  nodes.push({
    op: 'ReduceSum',
    inputs: [`m${rounds}`],
    outputs: ['s'],
    attributes: { keepdims: 0 },
  });
  nodes.push({ op: 'Add', inputs: ['x', 's'], outputs: ['y'] });
  return buildModel({
    inputs: [{ name: 'x', type: 'FP32', shape: [1] }],
    outputs: [{ name: 'y', type: 'FP32', shape: [1] }],
    initializers: [{ name: 'w', type: 'FP32', dims: [size, size], values: weights }],
    nodes,
  });
}

/**
 * Builds y = x * w with `w` ([size] FP32) stored in the external data file `dataFile`. Returns
 * the model and the data file's bytes, which must sit beside the model under that name.
 */
export function externalDataModel(
  weights: Float32Array,
  dataFile: string,
): { model: Buffer; data: Buffer } {
  const size = weights.length;
  const model = buildModel({
    inputs: [{ name: 'x', type: 'FP32', shape: ['n', size] }],
    outputs: [{ name: 'y', type: 'FP32', shape: ['n', size] }],
    initializers: [
      { name: 'w', type: 'FP32', dims: [size], values: weights, externalFile: dataFile },
    ],
    nodes: [{ op: 'Mul', inputs: ['x', 'w'], outputs: ['y'] }],
  });
  return { model, data: Buffer.from(weights.buffer, weights.byteOffset, weights.byteLength) };
}
