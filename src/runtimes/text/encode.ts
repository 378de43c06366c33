import type { Tokenizer } from '@huggingface/tokenizers';
import { InvalidInputError } from '../runtime.js';
import type { SequenceSettings } from './tokenizer-file.js';

/** A batch of tokenized texts, one row per text, all rows of the same length. */
export interface EncodedBatch {
  readonly length: number;
  readonly inputIds: number[][];
  readonly attentionMask: number[][];
  readonly tokenTypeIds: number[][];
}

/**
 * Tokenizes texts with the tokenizer's special tokens, then truncates and pads them as
 * tokenizer.json sets. Single sequences only, so token type ids are 0 except on padding.
 */
export function encodeBatch(
  tokenizer: Tokenizer,
  texts: readonly string[],
  settings: SequenceSettings,
): EncodedBatch {
  const rows = texts.map((text) => truncate(tokenizer, text, settings));
  const longest = Math.max(0, ...rows.map((row) => row.length));
  const padding = settings.padding;
  if (!padding) {
    if (rows.some((row) => row.length !== longest)) {
      throw new InvalidInputError(
        `the texts tokenize to different lengths (${rows.map((row) => row.length).join(', ')}) ` +
          'and tokenizer.json sets no padding; send one text per request, or add padding to ' +
          'tokenizer.json',
      );
    }
    return {
      length: longest,
      inputIds: rows,
      attentionMask: rows.map((row) => row.map(() => 1)),
      tokenTypeIds: rows.map((row) => row.map(() => 0)),
    };
  }
  let length = Math.max(longest, padding.fixedLength ?? 0);
  if (padding.multipleOf !== undefined) {
    length = Math.ceil(length / padding.multipleOf) * padding.multipleOf;
  }
  const pad = <T>(row: T[], value: T): T[] => {
    const fill = new Array<T>(length - row.length).fill(value);
    return padding.direction === 'Left' ? [...fill, ...row] : [...row, ...fill];
  };
  return {
    length,
    inputIds: rows.map((row) => pad(row, padding.padId)),
    attentionMask: rows.map((row) =>
      pad(
        row.map(() => 1),
        0,
      ),
    ),
    tokenTypeIds: rows.map((row) =>
      pad(
        row.map(() => 0),
        padding.padTypeId,
      ),
    ),
  };
}

/**
 * Cuts a text's tokens to the maximum length while keeping the special tokens that the
 * tokenizer's post-processor adds around them (such as BERT's [CLS] and [SEP]), as Hugging
 * Face tokenizers do: the text's own tokens are cut, not the template.
 */
function truncate(tokenizer: Tokenizer, text: string, settings: SequenceSettings): number[] {
  const full = tokenizer.encode(text).ids;
  const truncation = settings.truncation;
  if (!truncation || full.length <= truncation.maxLength) return full;

  const bare = tokenizer.encode(text, { add_special_tokens: false }).ids;
  const added = full.length - bare.length;
  const prefix = prefixLength(full, bare, added);
  const keep = Math.max(0, truncation.maxLength - added);
  const keptIds =
    truncation.direction === 'Left' ? bare.slice(bare.length - keep) : bare.slice(0, keep);
  return [...full.slice(0, prefix), ...keptIds, ...full.slice(prefix + bare.length)];
}

/** Where the text's own tokens start inside the encoding with special tokens. */
function prefixLength(full: readonly number[], bare: readonly number[], added: number): number {
  for (let prefix = 0; prefix <= added; prefix += 1) {
    if (bare.every((id, index) => full[prefix + index] === id)) return prefix;
  }
  return 0;
}
