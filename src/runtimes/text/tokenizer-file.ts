import fs from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { InvalidModelError } from '../runtime.js';

/** Truncation and padding as a Hugging Face tokenizer.json sets them (null when absent). */
export interface SequenceSettings {
  readonly truncation: {
    readonly maxLength: number;
    readonly direction: 'Right' | 'Left';
  } | null;
  readonly padding: {
    /** Pad every sequence to this length; undefined pads to the longest in the batch. */
    readonly fixedLength: number | undefined;
    readonly multipleOf: number | undefined;
    readonly direction: 'Right' | 'Left';
    readonly padId: number;
    readonly padTypeId: number;
  } | null;
}

export interface TokenizerFile {
  readonly tokenizer: Tokenizer;
  readonly settings: SequenceSettings;
}

export const TOKENIZER_FILE = 'tokenizer.json';

/** Reads `tokenizer.json`, and `tokenizer_config.json` when present, from a model's folder. */
export async function readTokenizer(folder: string): Promise<TokenizerFile> {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await fs.readFile(path.join(folder, TOKENIZER_FILE), 'utf8'));
  } catch (error) {
    throw new InvalidModelError(`${TOKENIZER_FILE} could not be read: ${(error as Error).message}`);
  }
  const config = await readOptionalJson(path.join(folder, 'tokenizer_config.json'));
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (error) {
    throw new InvalidModelError(
      `${TOKENIZER_FILE} is not a tokenizer this server can run: ${(error as Error).message}`,
    );
  }
  return { tokenizer, settings: sequenceSettings(json) };
}

async function readOptionalJson(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return {};
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidModelError(
      `${path.basename(file)} is not valid JSON: ${(error as Error).message}`,
    );
  }
}

function sequenceSettings(json: Record<string, unknown>): SequenceSettings {
  const truncation = json.truncation as Record<string, unknown> | null | undefined;
  const padding = json.padding as Record<string, unknown> | null | undefined;
  return {
    truncation: truncation
      ? {
          maxLength: positiveInteger(truncation.max_length, 'truncation.max_length'),
          direction: truncation.direction === 'Left' ? 'Left' : 'Right',
        }
      : null,
    padding: padding
      ? {
          fixedLength: fixedLength(padding.strategy),
          multipleOf:
            padding.pad_to_multiple_of == null
              ? undefined
              : positiveInteger(padding.pad_to_multiple_of, 'padding.pad_to_multiple_of'),
          direction: padding.direction === 'Left' ? 'Left' : 'Right',
          padId: typeof padding.pad_id === 'number' ? padding.pad_id : 0,
          padTypeId: typeof padding.pad_type_id === 'number' ? padding.pad_type_id : 0,
        }
      : null,
  };
}

/** Reads the fixed length of a padding strategy, which is "BatchLongest" or `{"Fixed": n}`. */
function fixedLength(strategy: unknown): number | undefined {
  if (typeof strategy === 'object' && strategy !== null && 'Fixed' in strategy) {
    return positiveInteger((strategy as { Fixed: unknown }).Fixed, 'padding.strategy.Fixed');
  }
  return undefined;
}

function positiveInteger(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  throw new InvalidModelError(
    `${TOKENIZER_FILE} has ${field} ${JSON.stringify(value)}; expected a positive integer`,
  );
}
