/**
 * Model formats Steward knows, with the platform name that the Open Inference Protocol's
 * model metadata reports (the names Triton and KServe use where one exists).
 */
export const FORMATS = {
  onnx: { platform: 'onnxruntime_onnx', description: 'ONNX model' },
} as const;

export type Format = keyof typeof FORMATS;

export function platformOf(format: string): string {
  return (FORMATS as Record<string, { platform: string }>)[format]?.platform ?? format;
}

const HDF5_MAGIC = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
const ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

export type Detection =
  | { readonly format: Format }
  | { readonly format: null; readonly reason: string };

/**
 * Detects the format from the first bytes of a file. ONNX has no magic number: a serialized
 * ModelProto starts with field 1 (ir_version, a varint), whose tag byte is 0x08; other
 * top-level fields are accepted too since the fields may come in any order.
 */
export function detectFormat(head: Buffer, sizeBytes: number): Detection {
  if (sizeBytes === 0) return { format: null, reason: 'the file is empty' };
  if (head.subarray(0, 8).equals(HDF5_MAGIC)) {
    return { format: null, reason: 'HDF5 files (Keras .h5) are not supported yet' };
  }
  if (head.subarray(0, 4).equals(ZIP_MAGIC) || head.subarray(0, 2).equals(GZIP_MAGIC)) {
    return { format: null, reason: 'archives (.zip, .tar.gz) are not supported yet' };
  }
  if (isOnnxTag(head[0])) return { format: 'onnx' };
  if (looksLikeText(head)) {
    return { format: null, reason: 'the file is text, not a model: upload the binary .onnx file' };
  }
  return { format: null, reason: 'the file is not an ONNX model (unrecognized first bytes)' };
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
