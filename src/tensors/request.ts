import { StewardError } from '../errors.js';
import { decodeBinaryValues, decodeJsonValues, flattenData } from './decode.js';
import { elementCount, isDatatype, type Signature, type Tensor, type TensorSpec } from './types.js';

/** An inference request checked against a signature, with its inputs decoded. */
export interface InferenceRequest {
  readonly id: string | undefined;
  readonly inputs: readonly Tensor[];
  /** Outputs to return, in order; empty means every output of the signature. */
  readonly outputs: readonly string[];
  /** Outputs to return with the binary tensor extension instead of JSON `data`. */
  readonly binaryOutputs: ReadonlySet<string>;
}

/** Largest element count of one input: the longest typed array Node allocates without doubt. */
const MAX_ELEMENTS = 2 ** 31 - 1;

function bad(message: string, field: string): StewardError {
  return new StewardError('INVALID_TENSOR', message, { field });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses an Open Inference Protocol request body and checks it against the model's signature:
 * input names, datatypes, ranks, fixed dimensions and element counts. `binary` contains the bytes
 * after the JSON header when the binary tensor extension is used.
 */
export function parseInferenceRequest(
  body: unknown,
  signature: Signature,
  binary: Buffer = Buffer.alloc(0),
): InferenceRequest {
  if (!isObject(body))
    throw bad('request body must be a JSON object with an "inputs" array', 'body');
  const id = body.id;
  if (id !== undefined && typeof id !== 'string') {
    throw bad(`"id" must be a string, received ${typeof id}`, 'id');
  }
  if (body.parameters !== undefined && !isObject(body.parameters)) {
    throw bad('"parameters" must be an object', 'parameters');
  }
  const parameters = (body.parameters ?? {}) as Record<string, unknown>;
  if (!Array.isArray(body.inputs) || body.inputs.length === 0) {
    throw bad('"inputs" must be a non-empty array of tensors', 'inputs');
  }

  const specs = new Map(signature.inputs.map((spec) => [spec.name, spec]));
  const seen = new Set<string>();
  const inputs: Tensor[] = [];
  let binaryOffset = 0;
  for (const [index, raw] of body.inputs.entries()) {
    const header = checkHeader(raw, index, specs, seen);
    const count = elementCount(header.shape);
    const binarySize = binaryDataSize(raw as Record<string, unknown>, header.name);
    let data: Tensor['data'];
    if (binarySize !== undefined) {
      if (binaryOffset + binarySize > binary.length) {
        throw bad(
          `input "${header.name}": binary_data_size ${binarySize} runs past the end of the body`,
          `inputs.${header.name}.parameters.binary_data_size`,
        );
      }
      const chunk = binary.subarray(binaryOffset, binaryOffset + binarySize);
      binaryOffset += binarySize;
      data = decodeBinaryValues(header.name, header.datatype, count, chunk);
    } else {
      const values = flattenData(header.name, (raw as Record<string, unknown>).data, header.shape);
      if (values.length !== count) {
        throw bad(
          `input "${header.name}": shape [${header.shape.join(',')}] needs ${count} values, received ${values.length}`,
          `inputs.${header.name}.data`,
        );
      }
      data = decodeJsonValues(header.name, header.datatype, values);
    }
    inputs.push({ name: header.name, datatype: header.datatype, shape: header.shape, data });
  }
  if (binaryOffset !== binary.length) {
    throw bad(
      `the body has ${binary.length - binaryOffset} bytes of binary data that no input claims`,
      'inputs',
    );
  }
  const missing = signature.inputs.filter((spec) => !seen.has(spec.name)).map((spec) => spec.name);
  if (missing.length > 0) {
    throw bad(
      `missing input${missing.length > 1 ? 's' : ''}: ${missing.map((n) => `"${n}"`).join(', ')}`,
      'inputs',
    );
  }

  const binaryByDefault = parameters.binary_data_output === true;
  const { outputs, binaryOutputs } = parseOutputs(body.outputs, signature, binaryByDefault);
  return { id, inputs, outputs, binaryOutputs };
}

interface InputHeader {
  readonly name: string;
  readonly datatype: Tensor['datatype'];
  readonly shape: number[];
}

function checkHeader(
  raw: unknown,
  index: number,
  specs: ReadonlyMap<string, TensorSpec>,
  seen: Set<string>,
): InputHeader {
  if (!isObject(raw)) throw bad(`inputs[${index}] must be an object`, `inputs[${index}]`);
  const name = raw.name;
  if (typeof name !== 'string' || name === '') {
    throw bad(`inputs[${index}] needs a "name" string`, `inputs[${index}].name`);
  }
  const spec = specs.get(name);
  if (!spec) {
    const known = [...specs.keys()].map((n) => `"${n}"`).join(', ');
    throw bad(`unknown input "${name}"; the model's inputs are ${known}`, `inputs.${name}`);
  }
  if (seen.has(name)) throw bad(`input "${name}" appears more than once`, `inputs.${name}`);
  seen.add(name);

  const datatype = raw.datatype;
  if (!isDatatype(datatype)) {
    throw bad(
      `input "${name}": datatype ${JSON.stringify(datatype)} is not a protocol datatype; expected ${spec.datatype}`,
      `inputs.${name}.datatype`,
    );
  }
  if (datatype !== spec.datatype) {
    throw bad(
      `input "${name}": expected datatype ${spec.datatype}, received ${datatype}`,
      `inputs.${name}.datatype`,
    );
  }

  const shape = raw.shape;
  if (!Array.isArray(shape) || !shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0)) {
    throw bad(
      `input "${name}": shape must be an array of non-negative integers, received ${JSON.stringify(shape)}`,
      `inputs.${name}.shape`,
    );
  }
  checkShape(name, spec, shape as number[]);
  if (elementCount(shape as number[]) > MAX_ELEMENTS) {
    throw bad(
      `input "${name}": shape [${shape.join(',')}] has more than ${MAX_ELEMENTS} elements`,
      `inputs.${name}.shape`,
    );
  }
  return { name, datatype, shape: shape as number[] };
}

function checkShape(name: string, spec: TensorSpec, shape: readonly number[]): void {
  // NOTE: onnxruntime reports an unknown rank as an empty shape, the same as a scalar, so an
  // empty expected shape accepts any rank and leaves the check to the runtime.
  if (spec.shape.length === 0) return;
  const expected = `[${spec.shape.join(',')}]`;
  if (shape.length !== spec.shape.length) {
    throw bad(
      `input "${name}": expected shape ${expected} (rank ${spec.shape.length}), received [${shape.join(',')}] (rank ${shape.length})`,
      `inputs.${name}.shape`,
    );
  }
  for (let axis = 0; axis < shape.length; axis += 1) {
    const want = spec.shape[axis]!;
    if (want >= 0 && shape[axis] !== want) {
      throw bad(
        `input "${name}": expected shape ${expected}, received [${shape.join(',')}]: dimension ${axis} must be ${want}`,
        `inputs.${name}.shape`,
      );
    }
  }
}

function binaryDataSize(raw: Record<string, unknown>, name: string): number | undefined {
  const parameters = raw.parameters;
  if (parameters === undefined) return undefined;
  if (!isObject(parameters)) {
    throw bad(`input "${name}": "parameters" must be an object`, `inputs.${name}.parameters`);
  }
  const size = parameters.binary_data_size;
  if (size === undefined) return undefined;
  if (!Number.isSafeInteger(size) || (size as number) < 0) {
    throw bad(
      `input "${name}": binary_data_size must be a non-negative integer`,
      `inputs.${name}.parameters.binary_data_size`,
    );
  }
  if (raw.data !== undefined) {
    throw bad(
      `input "${name}": send either "data" or binary_data_size, not both`,
      `inputs.${name}`,
    );
  }
  return size as number;
}

function parseOutputs(
  raw: unknown,
  signature: Signature,
  binaryByDefault: boolean,
): { outputs: string[]; binaryOutputs: Set<string> } {
  const binaryOutputs = new Set<string>();
  if (raw === undefined) {
    if (binaryByDefault) for (const spec of signature.outputs) binaryOutputs.add(spec.name);
    return { outputs: [], binaryOutputs };
  }
  if (!Array.isArray(raw))
    throw bad('"outputs" must be an array of {"name": ...} objects', 'outputs');
  const known = new Set(signature.outputs.map((spec) => spec.name));
  const outputs: string[] = [];
  for (const [index, entry] of raw.entries()) {
    if (!isObject(entry) || typeof entry.name !== 'string') {
      throw bad(`outputs[${index}] must be an object with a "name" string`, `outputs[${index}]`);
    }
    if (!known.has(entry.name)) {
      const names = [...known].map((n) => `"${n}"`).join(', ');
      throw bad(
        `unknown output "${entry.name}"; the model's outputs are ${names}`,
        `outputs.${entry.name}`,
      );
    }
    if (outputs.includes(entry.name)) {
      throw bad(`output "${entry.name}" is requested more than once`, `outputs.${entry.name}`);
    }
    const parameters = isObject(entry.parameters) ? entry.parameters : {};
    if (parameters.classification !== undefined) {
      throw new StewardError(
        'UNSUPPORTED',
        `output "${entry.name}": the classification extension is not supported; request the raw output`,
        { field: `outputs.${entry.name}.parameters.classification` },
      );
    }
    const wantsBinary = parameters.binary_data ?? binaryByDefault;
    if (wantsBinary === true) binaryOutputs.add(entry.name);
    outputs.push(entry.name);
  }
  return { outputs, binaryOutputs };
}
