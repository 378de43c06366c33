import fs from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import type { Datatype, Signature, Tensor, TensorData, TensorSpec } from '../tensors/types.js';
import { InvalidModelError, type LoadedModel, type LoadOptions, type Runtime } from './runtime.js';

/** onnxruntime tensor types and the protocol datatypes they carry. */
const DATATYPE_OF: Record<string, Datatype> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};

const ORT_TYPE_OF = Object.fromEntries(
  Object.entries(DATATYPE_OF).map(([ortType, datatype]) => [datatype, ortType]),
) as Record<Datatype, ort.Tensor.Type>;

// Warnings such as "opset 6 is legacy" would go to stderr unstructured; failures still throw.
ort.env.logLevel = 'error';

/**
 * ONNX models run by onnxruntime-node on the CPU: a single .onnx file, or a folder with one
 * .onnx file and the external data files it names. onnxruntime resolves external data paths
 * against the model file's own folder, whatever the working directory, and refuses paths
 * that leave it.
 */
export const onnxRuntime: Runtime = {
  format: 'onnx',

  async load(location: string, options: LoadOptions): Promise<LoadedModel> {
    const file = await modelFileAt(location);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(file, {
        executionProviders: ['cpu'],
        intraOpNumThreads: options.intraOpThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // Without the arena, memory that a run allocates goes back to the allocator after the
        // run, so the size measured after a load stays the model's steady-state size.
        enableCpuMemArena: false,
        logSeverityLevel: 3,
      });
    } catch (error) {
      throw new InvalidModelError(describeLoadError(error, path.dirname(file)), { cause: error });
    }
    let signature: Signature;
    try {
      signature = readSignature(session);
    } catch (error) {
      await session.release();
      throw error;
    }
    return new OnnxModel(session, signature);
  },
};

class OnnxModel implements LoadedModel {
  readonly signature: Signature;
  readonly #session: ort.InferenceSession;

  constructor(session: ort.InferenceSession, signature: Signature) {
    this.#session = session;
    this.signature = signature;
  }

  async run(inputs: readonly Tensor[], outputNames: readonly string[]): Promise<Tensor[]> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of inputs) {
      feeds[input.name] = new ort.Tensor(
        ORT_TYPE_OF[input.datatype],
        input.data as ort.Tensor.DataType,
        input.shape as number[],
      );
    }
    const fetches =
      outputNames.length > 0 ? outputNames : this.signature.outputs.map((o) => o.name);
    const results = await this.#session.run(feeds, fetches as string[]);
    return fetches.map((name) => {
      const value = results[name];
      if (!value) throw new Error(`onnxruntime returned no value for output "${name}"`);
      const datatype = DATATYPE_OF[value.type];
      if (!datatype) throw new Error(`output "${name}" has unsupported type ${value.type}`);
      return { name, datatype, shape: [...value.dims], data: value.data as TensorData };
    });
  }

  async dispose(): Promise<void> {
    await this.#session.release();
  }
}

function readSignature(session: ort.InferenceSession): Signature {
  return {
    inputs: session.inputMetadata.map((meta) => toSpec(meta, 'input')),
    outputs: session.outputMetadata.map((meta) => toSpec(meta, 'output')),
  };
}

function toSpec(meta: ort.InferenceSession.ValueMetadata, role: 'input' | 'output'): TensorSpec {
  if (!meta.isTensor) {
    throw new InvalidModelError(
      `${role} "${meta.name}" is a sequence or map, which the Open Inference Protocol cannot ` +
        'carry; export the model with tensor outputs only (for skl2onnx classifiers, ' +
        'pass options={"zipmap": False})',
    );
  }
  const datatype = DATATYPE_OF[meta.type];
  if (!datatype) {
    throw new InvalidModelError(
      `${role} "${meta.name}" has type ${meta.type}, which Steward cannot carry; ` +
        `supported types are ${Object.keys(DATATYPE_OF).join(', ')}`,
    );
  }
  // Symbolic or unknown dimensions (a name or an empty string) accept any size.
  const shape = meta.shape.map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : -1));
  return { name: meta.name, datatype, shape };
}

/** Returns the file itself, or the one .onnx file at the top of a model folder. */
async function modelFileAt(location: string): Promise<string> {
  if (!(await fs.stat(location)).isDirectory()) return location;
  const models = (await fs.readdir(location)).filter((name) => name.endsWith('.onnx'));
  if (models.length !== 1) {
    throw new InvalidModelError(
      `the model folder must hold exactly one .onnx file, found ${models.length}`,
    );
  }
  return path.join(location, models[0]!);
}

const MISSING_EXTERNAL_DATA =
  /initializer: (.+?)\. Error: .*External data path does not exist: "(.+?)"/;

/** Names a missing external data file relative to the model; other errors as cleaned up. */
const MISSING_LOCALE = /Failed to construct locale with name:\s*([A-Za-z0-9_.@-]+)/;

function describeLoadError(error: unknown, folder: string): string {
  const message = cleanMessage(error);
  const missing = MISSING_EXTERNAL_DATA.exec(message);
  if (missing) {
    return (
      `the external data file "${path.relative(folder, missing[2]!)}" of initializer ` +
      `"${missing[1]}" is missing; pack it in the archive beside the .onnx file`
    );
  }
  const locale = MISSING_LOCALE.exec(message);
  if (locale) {
    // StringNormalizer builds a C++ locale by name, and the host has no such locale.
    return (
      `onnxruntime could not load the model: its string operators need the ${locale[1]} ` +
      'locale, which this host lacks; install it (on Debian: the locales package, then ' +
      'locale-gen after enabling it in /etc/locale.gen) and upload again'
    );
  }
  return `onnxruntime could not load the model: ${message.replaceAll(`${folder}${path.sep}`, '')}`;
}

/** Strips onnxruntime's source paths and colour codes, which mean nothing to a client. */
function cleanMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the pattern matches ANSI colour codes.
  const plain = text.replace(/\u001b\[[0-9;]*m/g, '');
  return plain
    .replace(/\/onnxruntime_src\/\S+:\d+ /g, '')
    .replace(/Load model from \S+ failed:/, '')
    .trim();
}
