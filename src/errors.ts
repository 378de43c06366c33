/**
 * Every error that Steward returns to a client. Each code has one HTTP status; the inference
 * API sends `{"error": message}` as the Open Inference Protocol requires, and the management
 * API adds the code and, where one input is at fault, the field.
 */
export const ERROR_CODES = {
  INVALID_ARGUMENT: { status: 400, summary: 'A request field is missing or invalid.' },
  INVALID_MODEL_NAME: { status: 400, summary: 'A model name breaks the naming rule.' },
  INVALID_TENSOR: { status: 400, summary: 'An inference input does not match the signature.' },
  INVALID_ARTIFACT: {
    status: 422,
    summary: 'An uploaded file is empty, truncated or not a model Steward can load.',
  },
  UNAUTHORIZED: { status: 401, summary: 'The admin token is missing or wrong.' },
  MODEL_NOT_FOUND: { status: 404, summary: 'No model has this name.' },
  VERSION_NOT_FOUND: { status: 404, summary: 'The model has no such version or alias.' },
  ROUTE_NOT_FOUND: { status: 404, summary: 'No route matches the method and path.' },
  CONFLICT: { status: 409, summary: 'The change conflicts with the current registry state.' },
  PROMOTION_GATE_FAILED: {
    status: 409,
    summary: 'The staging comparison is below the minimum the promotion asked for.',
  },
  PAYLOAD_TOO_LARGE: { status: 413, summary: 'The request body exceeds the configured limit.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'The request Content-Type is not accepted.' },
  MODEL_TOO_LARGE: {
    status: 507,
    summary: 'The model needs more memory than the whole memory budget.',
  },
  INTERNAL: { status: 500, summary: 'An unexpected failure inside Steward.' },
  MODEL_FAILED: { status: 500, summary: 'The model runtime failed while running a request.' },
  UNSUPPORTED: { status: 501, summary: 'The request asks for a feature Steward does not have.' },
  MODEL_NOT_READY: {
    status: 503,
    summary: 'The version is not loaded and cannot be loaded now.',
  },
  SHUTTING_DOWN: { status: 503, summary: 'The server is draining and takes no new requests.' },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class StewardError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** The request field at fault, when there is exactly one. */
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'StewardError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.field = options.field;
  }
}

/**
 * A load refused for lack of memory: the budget is smaller than the model, or held by pinned
 * versions and versions in use. It says nothing about the version itself.
 */
export class CapacityError extends StewardError {
  constructor(code: 'MODEL_TOO_LARGE' | 'MODEL_NOT_READY', message: string) {
    super(code, message);
    this.name = 'CapacityError';
  }
}

export function isStewardError(error: unknown): error is StewardError {
  return error instanceof StewardError;
}

/** Returns the message of any thrown value, for logs and error bodies. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Writes a received value as JSON for an error message. A JSON number beyond FP64, such as
 * 1e400, parses to Infinity, which JSON.stringify would write as null, so non-finite numbers
 * are written as Infinity, -Infinity or NaN.
 */
export function formatReceived(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return JSON.stringify(value);
}
