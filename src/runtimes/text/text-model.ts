import type { Datatype, Signature, Tensor, TensorSpec } from '../../tensors/types.js';
import { InvalidInputError, InvalidModelError, type LoadedModel } from '../runtime.js';
import { encodeBatch } from './encode.js';
import { TOKENIZER_FILE, type TokenizerFile } from './tokenizer-file.js';

/** The BYTES input that replaces the token inputs of a model that carries a tokenizer. */
export const TEXT_INPUT = 'text';

/** Model inputs filled from the tokenizer's output instead of the request. */
const DERIVED_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids', 'position_ids'];
const INTEGER_TYPES: readonly Datatype[] = ['INT32', 'INT64'];

/**
 * Wraps a model whose folder carries a tokenizer.json: its `input_ids` input, and the
 * `attention_mask`, `token_type_ids` and `position_ids` inputs where it has them, give way
 * to one BYTES input `text` of shape [batch]. Each request's texts are tokenized in the
 * worker, then the model runs on the resulting integer tensors.
 */
export function withTextInput(model: LoadedModel, tokenizer: TokenizerFile): LoadedModel {
  const derived = model.signature.inputs.filter((spec) => DERIVED_INPUTS.includes(spec.name));
  const inputIds = derived.find((spec) => spec.name === 'input_ids');
  if (!inputIds) {
    throw new InvalidModelError(
      `the model comes with ${TOKENIZER_FILE}, but has no input_ids input to feed ` +
        `(its inputs are ${model.signature.inputs.map((spec) => spec.name).join(', ')})`,
    );
  }
  for (const spec of derived) {
    if (!INTEGER_TYPES.includes(spec.datatype) || spec.shape.length !== 2) {
      throw new InvalidModelError(
        `input "${spec.name}" is ${spec.datatype} [${spec.shape.join(',')}]; a tokenized input ` +
          'must be INT32 or INT64 with shape [batch, sequence]',
      );
    }
  }
  if (model.signature.inputs.some((spec) => spec.name === TEXT_INPUT)) {
    throw new InvalidModelError(
      `the model already has an input named "${TEXT_INPUT}", the name of the text input that ${TOKENIZER_FILE} adds`,
    );
  }
  return new TextInputModel(model, tokenizer, derived);
}

class TextInputModel implements LoadedModel {
  readonly signature: Signature;
  readonly #model: LoadedModel;
  readonly #tokenizer: TokenizerFile;
  readonly #derived: readonly TensorSpec[];

  constructor(model: LoadedModel, tokenizer: TokenizerFile, derived: readonly TensorSpec[]) {
    this.#model = model;
    this.#tokenizer = tokenizer;
    this.#derived = derived;
    const otherInputs = model.signature.inputs.filter((spec) => !derived.includes(spec));
    this.signature = {
      inputs: [{ name: TEXT_INPUT, datatype: 'BYTES', shape: [-1] }, ...otherInputs],
      outputs: model.signature.outputs,
    };
  }

  async run(inputs: readonly Tensor[], outputNames: readonly string[]): Promise<Tensor[]> {
    const text = inputs.find((input) => input.name === TEXT_INPUT);
    if (!text || !Array.isArray(text.data)) {
      throw new InvalidInputError(`input "${TEXT_INPUT}" must be a BYTES tensor of texts`);
    }
    const batch = encodeBatch(this.#tokenizer.tokenizer, text.data, this.#tokenizer.settings);
    for (const spec of this.#derived) checkSequenceLength(spec, batch.length);
    const tokens = this.#derived.map((spec) =>
      tokenTensor(spec, batch.length, valuesFor(spec.name, batch)),
    );
    const others = inputs.filter((input) => input !== text);
    return this.#model.run([...tokens, ...others], outputNames);
  }

  dispose(): Promise<void> {
    return this.#model.dispose();
  }
}

function checkSequenceLength(spec: TensorSpec, length: number): void {
  const want = spec.shape[1]!;
  if (want < 0 || want === length) return;
  throw new InvalidInputError(
    `the texts tokenize to ${length} tokens, but input "${spec.name}" takes exactly ${want}; ` +
      `set padding to {"Fixed": ${want}} and truncation max_length ${want} in ${TOKENIZER_FILE}`,
  );
}

function valuesFor(name: string, batch: ReturnType<typeof encodeBatch>): number[][] {
  switch (name) {
    case 'input_ids':
      return batch.inputIds;
    case 'attention_mask':
      return batch.attentionMask;
    case 'token_type_ids':
      return batch.tokenTypeIds;
    default:
      // Positions count the attended tokens from 0, so left padding does not shift them.
      return batch.attentionMask.map((mask) => {
        let position = -1;
        return mask.map((attended) => {
          position += attended;
          return Math.max(position, 0);
        });
      });
  }
}

function tokenTensor(spec: TensorSpec, length: number, rows: number[][]): Tensor {
  const flat = rows.flat();
  const data =
    spec.datatype === 'INT64'
      ? BigInt64Array.from(flat, (value) => BigInt(value))
      : Int32Array.from(flat);
  return { name: spec.name, datatype: spec.datatype, shape: [rows.length, length], data };
}
