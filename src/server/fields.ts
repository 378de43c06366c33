import { formatReceived, StewardError } from '../errors.js';

/**
 * Readers of optional query and body fields. Each returns undefined for a missing field and
 * rejects anything else that is not valid with a 400 that names the field and the expected form.
 */

export function optionalText(value: unknown, field: string, maxLength = 1000): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > maxLength) {
    throw invalid(field, `a single text of at most ${maxLength} characters`, value);
  }
  return value;
}

export function optionalBoolean(value: unknown, field: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw invalid(field, 'true or false', value);
}

export function optionalInteger(
  value: unknown,
  field: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const number = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < min || number > max) {
    throw invalid(field, `a whole number from ${min} to ${max}`, value);
  }
  return number;
}

/** Reads an ISO-8601 time and returns it normalized to UTC with milliseconds, as stored. */
export function optionalTime(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw invalid(field, 'an ISO-8601 time such as 2026-12-01T00:00:00Z', value);
  }
  return new Date(ms).toISOString();
}

export function optionalChoice<T extends string>(
  value: unknown,
  field: string,
  choices: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    throw invalid(field, `one of ${choices.join(', ')}`, value);
  }
  return value as T;
}

/**
 * Returns the body as an object. A missing body reads as an empty object, and any other value
 * that is not a JSON object, JSON null included, is rejected. `fields` names the fields the
 * route reads, for the message.
 */
export function bodyObject(body: unknown, fields?: readonly string[]): Record<string, unknown> {
  if (body === undefined) return {};
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    const expected = fields
      ? `a JSON object with the fields ${fields.join(', ')}`
      : 'a JSON object';
    throw new StewardError(
      'INVALID_ARGUMENT',
      `the request body must be ${expected}; received ${kindOf(body)}`,
      { field: 'body' },
    );
  }
  return body as Record<string, unknown>;
}

/** Rejects a key of `fields` that is not in `known`, naming it and the known ones. */
export function rejectUnknownFields(
  fields: Record<string, unknown>,
  known: readonly string[],
  kind = 'field',
): void {
  for (const key of Object.keys(fields)) {
    if (known.includes(key)) continue;
    throw new StewardError(
      'INVALID_ARGUMENT',
      `unknown ${kind} "${key}"; the fields are ${known.join(', ')}`,
      { field: key },
    );
  }
}

/** Checks that a body is a JSON object with only known fields; no body is an empty object. */
export function bodyFields(body: unknown, known: readonly string[]): Record<string, unknown> {
  const fields = bodyObject(body, known);
  rejectUnknownFields(fields, known);
  return fields;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? 'a string' : `a ${typeof value}`;
}

function invalid(field: string, expected: string, value: unknown): StewardError {
  const received = Array.isArray(value) ? 'the field more than once' : formatReceived(value);
  return new StewardError(
    'INVALID_ARGUMENT',
    `${field} must be ${expected}; received ${received}`,
    {
      field,
    },
  );
}
