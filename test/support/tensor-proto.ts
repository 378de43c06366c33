/**
 * Reads a serialized onnx.TensorProto (the `.pb` files of the ONNX backend tests) into a
 * protocol tensor: dims (field 1), data_type (2), float_data (4), int32_data (5),
 * string_data (6), int64_data (7), raw_data (9), double_data (10).
 */
export interface ProtoTensor {
  readonly datatype: string;
  readonly shape: number[];
  readonly data: Array<number | string | bigint>;
}

const DATATYPES: Record<number, string> = {
  1: 'FP32',
  2: 'UINT8',
  3: 'INT8',
  6: 'INT32',
  7: 'INT64',
  8: 'BYTES',
  9: 'BOOL',
  11: 'FP64',
};

/** A cursor over protobuf bytes. */
class Reader {
  offset = 0;

  constructor(readonly buffer: Buffer) {}

  get done(): boolean {
    return this.offset >= this.buffer.length;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.buffer[this.offset++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  }

  bytes(length: number): Buffer {
    const chunk = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return chunk;
  }
}

export function parseTensorProto(buffer: Buffer): ProtoTensor {
  const reader = new Reader(buffer);
  const dims: number[] = [];
  let type = 0;
  const floats: number[] = [];
  const int64s: bigint[] = [];
  const int32s: number[] = [];
  const strings: string[] = [];
  let raw: Buffer | undefined;

  const addVarint = (field: number, value: bigint) => {
    if (field === 1) dims.push(Number(value));
    else if (field === 2) type = Number(value);
    else if (field === 7) int64s.push(BigInt.asIntN(64, value));
    else if (field === 5) int32s.push(Number(BigInt.asIntN(32, value)));
  };

  while (!reader.done) {
    const tag = Number(reader.varint());
    const field = tag >> 3;
    const wire = tag & 7;
    if (wire === 0) {
      addVarint(field, reader.varint());
    } else if (wire === 5) {
      const chunk = reader.bytes(4);
      if (field === 4) floats.push(chunk.readFloatLE(0));
    } else if (wire === 1) {
      const chunk = reader.bytes(8);
      if (field === 10) floats.push(chunk.readDoubleLE(0));
    } else if (wire === 2) {
      const chunk = reader.bytes(Number(reader.varint()));
      if (field === 1 || field === 5 || field === 7) {
        // Packed repeated varints.
        const packed = new Reader(chunk);
        while (!packed.done) addVarint(field, packed.varint());
      } else if (field === 4) {
        for (let i = 0; i < chunk.length; i += 4) floats.push(chunk.readFloatLE(i));
      } else if (field === 10) {
        for (let i = 0; i < chunk.length; i += 8) floats.push(chunk.readDoubleLE(i));
      } else if (field === 6) {
        strings.push(chunk.toString('utf8'));
      } else if (field === 9) {
        raw = chunk;
      }
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
  }

  const datatype = DATATYPES[type];
  if (!datatype) throw new Error(`unsupported TensorProto data_type ${type}`);
  let data: Array<number | string | bigint>;
  if (raw) {
    data = decodeRaw(datatype, raw);
  } else if (datatype === 'BYTES') {
    data = strings;
  } else if (datatype === 'INT64') {
    data = int64s;
  } else if (datatype === 'FP32' || datatype === 'FP64') {
    data = floats;
  } else {
    data = int32s;
  }
  return { datatype, shape: dims, data };
}

function decodeRaw(datatype: string, raw: Buffer): Array<number | bigint> {
  const copy = Buffer.from(raw);
  const view = copy.buffer.slice(copy.byteOffset, copy.byteOffset + copy.length);
  switch (datatype) {
    case 'FP32':
      return [...new Float32Array(view)];
    case 'FP64':
      return [...new Float64Array(view)];
    case 'INT64':
      return [...new BigInt64Array(view)];
    case 'INT32':
      return [...new Int32Array(view)];
    case 'INT8':
      return [...new Int8Array(view)];
    default:
      return [...new Uint8Array(view)];
  }
}
