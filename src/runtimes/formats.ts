import fs from 'node:fs/promises';
import path from 'node:path';
import { type ArchiveKind, archiveKindOf } from '../archives/entries.js';

/**
 * Model formats Steward knows, with the platform name that the Open Inference Protocol's
 * model metadata reports (the names Triton and KServe use where one exists).
 */
export const FORMATS = {
  onnx: { platform: 'onnxruntime_onnx', description: 'ONNX model' },
  keras_h5: { platform: 'keras_h5', description: 'Keras 2 HDF5 model' },
  tfjs_layers: { platform: 'tfjs_layers', description: 'TensorFlow.js layers model' },
  tfjs_graph: { platform: 'tfjs_graph', description: 'TensorFlow.js graph model' },
} as const;

export type Format = keyof typeof FORMATS;

export function platformOf(format: string): string {
  return (FORMATS as Record<string, { platform: string }>)[format]?.platform ?? format;
}

const HDF5_MAGIC = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

export type Detection =
  | { readonly format: Format }
  | { readonly format: null; readonly archive: ArchiveKind }
  | { readonly format: null; readonly archive?: undefined; readonly reason: string };

/**
 * Detects the format from the first bytes of a file. An archive is reported as such: its
 * format comes from the files inside (see `detectFolderFormat`). ONNX has no magic number: a
 * serialized ModelProto starts with field 1 (ir_version, a varint), whose tag byte is 0x08;
 * other top-level fields are accepted too since the fields may come in any order.
 */
export function detectFormat(head: Buffer, sizeBytes: number): Detection {
  if (sizeBytes === 0) return { format: null, reason: 'the file is empty' };
  if (head.subarray(0, 8).equals(HDF5_MAGIC)) return { format: 'keras_h5' };
  const archive = archiveKindOf(head);
  if (archive) return { format: null, archive };
  if (isOnnxTag(head[0])) return { format: 'onnx' };
  if (looksLikeText(head)) {
    return {
      format: null,
      reason:
        'the file is text, not a model: upload the binary .onnx or .h5 file, or pack a ' +
        'TF.js model.json with its weight files into a .zip or .tar.gz archive',
    };
  }
  return {
    format: null,
    reason:
      'the file is not a model Steward reads (unrecognized first bytes); Steward takes ' +
      'ONNX, Keras .h5, and .zip or .tar.gz archives of TF.js or ONNX models',
  };
}

export type FolderDetection =
  | { readonly format: Format }
  | { readonly format: null; readonly reason: string };

/** Detects the format of a model unpacked from an archive from the files at its top. */
export async function detectFolderFormat(folder: string): Promise<FolderDetection> {
  const names = await fs.readdir(folder);
  if (names.includes('model.json')) return detectModelJson(path.join(folder, 'model.json'));
  if (names.includes('metadata.json') && names.includes('config.json')) {
    return { format: null, reason: await describeKeras3Archive(folder) };
  }
  const onnxFiles = names.filter((name) => name.endsWith('.onnx'));
  if (onnxFiles.length === 1) return { format: 'onnx' };
  if (onnxFiles.length > 1) {
    return {
      format: null,
      reason: `the archive holds ${onnxFiles.length} .onnx files (${onnxFiles.join(', ')}); pack one model per archive`,
    };
  }
  const listing = names.length > 0 ? names.slice(0, 10).join(', ') : 'nothing';
  return {
    format: null,
    reason:
      `the archive holds no model at its top level (found ${listing}): expected a TF.js ` +
      'model.json with its weight files, or one .onnx file with its external data',
  };
}

async function detectModelJson(file: string): Promise<FolderDetection> {
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (error) {
    return { format: null, reason: `model.json is not valid JSON: ${(error as Error).message}` };
  }
  const model = (json ?? {}) as { format?: unknown; modelTopology?: Record<string, unknown> };
  const topology = model.modelTopology ?? {};
  if (model.format === 'graph-model' || Array.isArray(topology.node)) {
    return { format: 'tfjs_graph' };
  }
  if (model.format === 'layers-model' || 'class_name' in topology || 'model_config' in topology) {
    return { format: 'tfjs_layers' };
  }
  return {
    format: null,
    reason:
      'model.json is neither a TF.js layers model nor a graph model: it needs "format" ' +
      '"layers-model" or "graph-model" and a "modelTopology"',
  };
}

/** Keras 3 saves `.keras` files as zip archives of config.json, metadata.json and weights. */
async function describeKeras3Archive(folder: string): Promise<string> {
  let version = 'unknown';
  try {
    const metadata = JSON.parse(await fs.readFile(path.join(folder, 'metadata.json'), 'utf8'));
    if (typeof metadata?.keras_version === 'string') version = metadata.keras_version;
  } catch {
    // A damaged metadata.json leaves the version unknown, and the archive is rejected anyway.
  }
  return (
    `the archive is a Keras 3 .keras file (keras_version ${version}), which Steward does not ` +
    "load; save the model with Keras 2 (tf.keras or tf_keras) as model.save('model.h5')"
  );
}

/** Tags of ModelProto fields 1-8 and 14 (wire types varint or length-delimited). */
function isOnnxTag(byte: number | undefined): boolean {
  if (byte === undefined) return false;
  const field = byte >> 3;
  const wireType = byte & 0x07;
  const known = [1, 2, 3, 4, 5, 6, 7, 8, 14];
  return known.includes(field) && (wireType === 0 || wireType === 2);
}

function looksLikeText(head: Buffer): boolean {
  if (head.length === 0) return false;
  let printable = 0;
  for (const byte of head) {
    if (byte === 0x09 || byte === 0x0a || byte === 0x0d || (byte >= 0x20 && byte < 0x7f)) {
      printable += 1;
    }
  }
  return printable / head.length > 0.95;
}
