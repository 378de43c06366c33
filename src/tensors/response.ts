import { fromFloat16Bits } from './float16.js';
import type { Tensor } from './types.js';

export interface InferenceResponse {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly id: string | undefined;
  readonly outputs: readonly Tensor[];
  /** Outputs sent with the binary tensor extension. */
  readonly binaryOutputs: ReadonlySet<string>;
}

export interface EncodedResponse {
  /** The JSON part; the whole body when `binary` is empty. */
  readonly json: string;
  /** Output bytes that follow the JSON, in output order. */
  readonly binary: readonly Buffer[];
}

/**
 * Encodes an inference response. The JSON is written by hand so that INT64 and UINT64 values
 * keep every digit, and NaN or an infinity becomes the string "NaN", "Infinity" or "-Infinity"
 * (the proto3 JSON spelling) instead of breaking the JSON.
 */
export function encodeInferenceResponse(response: InferenceResponse): EncodedResponse {
  const binary: Buffer[] = [];
  const outputs = response.outputs.map((tensor) => {
    const head = `{"name":${JSON.stringify(tensor.name)},"datatype":"${tensor.datatype}","shape":[${tensor.shape.join(',')}]`;
    if (response.binaryOutputs.has(tensor.name)) {
      const bytes = toBinary(tensor);
      binary.push(bytes);
      return `${head},"parameters":{"binary_data_size":${bytes.length}}}`;
    }
    return `${head},"data":${encodeData(tensor)}}`;
  });
  const id = response.id === undefined ? '' : `"id":${JSON.stringify(response.id)},`;
  const json =
    `{"model_name":${JSON.stringify(response.modelName)},` +
    `"model_version":${JSON.stringify(response.modelVersion)},${id}` +
    `"outputs":[${outputs.join(',')}]}`;
  return { json, binary };
}

function encodeData(tensor: Tensor): string {
  const data = tensor.data;
  if (Array.isArray(data)) return JSON.stringify(data);
  switch (tensor.datatype) {
    case 'BOOL':
      return `[${Array.from(data as Uint8Array, (value) => (value ? 'true' : 'false')).join(',')}]`;
    case 'INT64':
    case 'UINT64':
      // BigInt's decimal string is exact; a JSON number parsed by the client may still round.
      return `[${Array.prototype.join.call(data, ',')}]`;
    case 'FP16':
      return encodeFloats(Array.from(data as Uint16Array, fromFloat16Bits));
    case 'FP32':
    case 'FP64':
      return encodeFloats(data as Float32Array | Float64Array);
    default:
      return `[${Array.prototype.join.call(data, ',')}]`;
  }
}

function encodeFloats(values: ArrayLike<number>): string {
  let text = '[';
  for (let index = 0; index < values.length; index += 1) {
    const value = values[index]!;
    if (index > 0) text += ',';
    if (Number.isFinite(value)) {
      text += value;
    } else if (Number.isNaN(value)) {
      text += '"NaN"';
    } else {
      text += value > 0 ? '"Infinity"' : '"-Infinity"';
    }
  }
  return `${text}]`;
}

function toBinary(tensor: Tensor): Buffer {
  const data = tensor.data;
  if (!Array.isArray(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const parts: Buffer[] = [];
  for (const value of data) {
    const bytes = Buffer.from(value, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    parts.push(length, bytes);
  }
  return Buffer.concat(parts);
}
