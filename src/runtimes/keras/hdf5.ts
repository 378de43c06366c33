import h5wasm, { Dataset, type File, Group } from 'h5wasm/node';
import { InvalidModelError } from '../runtime.js';

let ready: Promise<void> | undefined;

/**
 * Opens an HDF5 file read-only with h5wasm. HDF5 errors become exceptions instead of text
 * printed to stderr, and a file that HDF5 cannot open is rejected with HDF5's reason.
 *
 * NOTE: WebAssembly memory never shrinks, so a worker keeps the h5wasm heap that its largest
 * dataset needed after the model is unloaded, when the memory budget no longer counts it.
 */
export async function openHdf5(path: string): Promise<File> {
  ready ??= h5wasm.ready.then((module) => {
    module.activate_throwing_error_handler();
  });
  await ready;
  try {
    return new h5wasm.File(path, 'r');
  } catch (error) {
    throw new InvalidModelError(`the file is not a readable HDF5 file: ${hdf5Reason(error)}`, {
      cause: error,
    });
  }
}

/** Returns a string attribute, or undefined when it is absent. Keras writes scalar strings. */
export function stringAttribute(group: Group, name: string): string | undefined {
  const attribute = group.attrs[name];
  if (!attribute) return undefined;
  const value = attribute.value;
  return typeof value === 'string' ? value : undefined;
}

/** Returns a list-of-strings attribute such as `layer_names`, empty when it is absent. */
export function stringListAttribute(group: Group, name: string): string[] {
  const value = group.attrs[name]?.value;
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) return [];
  return value.map(String);
}

export function childGroup(parent: Group, name: string): Group | undefined {
  const child = parent.get(name);
  return child instanceof Group ? child : undefined;
}

const H5T_INTEGER = 0;
const H5T_FLOAT = 1;

/**
 * Reads a weight dataset as float32. HDF5 converts big-endian data to the host's byte order as
 * it reads, so both byte orders come out right. Float64 is narrowed to float32, the dtype TF.js
 * computes in. Every other datatype is rejected rather than reinterpreted.
 */
export function readFloatWeights(
  file: File,
  path: string,
): { values: Float32Array; shape: number[] } {
  const dataset = file.get(path);
  if (!(dataset instanceof Dataset)) {
    throw new InvalidModelError(`weight "${path}" is listed in the file but missing from it`);
  }
  const { type, size } = dataset.metadata;
  if (type !== H5T_FLOAT || (size !== 4 && size !== 8)) {
    const what = type === H5T_INTEGER ? `${size * 8}-bit integers` : describeType(type, size);
    throw new InvalidModelError(
      `weight "${path}" is stored as ${what}; Steward reads weights stored as 32- or 64-bit floats`,
    );
  }
  const value = dataset.value;
  const values =
    value instanceof Float32Array
      ? value
      : value instanceof Float64Array
        ? Float32Array.from(value)
        : undefined;
  if (!values) throw new InvalidModelError(`weight "${path}" could not be read as floats`);
  return { values, shape: dataset.shape ?? [] };
}

function describeType(type: number, size: number): string {
  if (type === H5T_FLOAT) return `${size * 8}-bit floats`;
  const classes = [
    'integers',
    'floats',
    'times',
    'strings',
    'bit fields',
    'opaque data',
    'compound records',
    'references',
    'enums',
    'variable-length sequences',
    'arrays',
  ];
  return `HDF5 ${classes[type] ?? `type class ${type}`}`;
}

/** Extracts the first line of an HDF5 error stack, such as "H5Fopen(): unable to open file". */
function hdf5Reason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const match = /#000: .* in (\w+\(\)): (.+)$/m.exec(text);
  return match ? `${match[1]}: ${match[2]}` : text.split('\n')[0]!;
}
