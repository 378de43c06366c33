import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, type ErrorCode, StewardError } from '../errors.js';

/** Fastify's own error codes and the Steward codes they map to. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_ARGUMENT',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_ARGUMENT',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_ARGUMENT',
  FST_ERR_VALIDATION: 'INVALID_ARGUMENT',
  FST_REQ_FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
};

/** Paths of the Open Inference Protocol, whose error body is exactly `{"error": "..."}`. */
function isProtocolPath(url: string): boolean {
  return url === '/v2' || url.startsWith('/v2/') || url.startsWith('/v2?');
}

export function toStewardError(error: unknown, request?: FastifyRequest): StewardError {
  if (error instanceof StewardError) return error;
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE' && request) {
    const limit = request.routeOptions.bodyLimit;
    const setting = request.url.startsWith('/v2/') ? '; raise --max-request-size to accept it' : '';
    return new StewardError(
      'PAYLOAD_TOO_LARGE',
      `request body exceeds the limit of ${limit} bytes${setting}`,
      {
        field: 'body',
        cause: error,
      },
    );
  }
  if (fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' && request) {
    // Only the JSON routes reach this, because inference and upload accept any content type.
    const type = String(request.headers['content-type'] ?? '').slice(0, 100);
    return new StewardError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Type ${JSON.stringify(type)} is not accepted; send the body as JSON with ` +
        'Content-Type application/json, or send no body',
      { field: 'content-type', cause: error },
    );
  }
  const mapped = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (mapped) return new StewardError(mapped, fastifyError.message ?? mapped, { cause: error });
  if (error instanceof SyntaxError || fastifyError.statusCode === 400) {
    return new StewardError(
      'INVALID_ARGUMENT',
      `invalid request body: ${(error as Error).message}`,
      {
        field: 'body',
        cause: error,
      },
    );
  }
  return new StewardError('INTERNAL', 'internal error; the server log has the details', {
    cause: error,
  });
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: StewardError): void {
  const body = isProtocolPath(request.url)
    ? { error: error.message }
    : { error: error.message, code: error.code, ...(error.field ? { field: error.field } : {}) };
  reply.code(error.status).type('application/json; charset=utf-8').send(body);
}

/** Installs the error and not-found handlers: one body shape per API, 5xx logged at error. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const stewardError = toStewardError(error, request);
    if (stewardError.status === 503) {
      // Unavailable versions and shutdowns are expected states, not faults: no stack trace.
      request.log.warn(
        { code: stewardError.code, message: stewardError.message },
        'request refused',
      );
    } else if (stewardError.status >= 500) {
      request.log.error({ err: error, code: stewardError.code }, 'request failed');
    } else {
      request.log.info(
        { code: stewardError.code, message: stewardError.message },
        'request rejected',
      );
    }
    sendError(request, reply, stewardError);
  });
  app.setNotFoundHandler((request, reply) => {
    sendError(
      request,
      reply,
      new StewardError(
        'ROUTE_NOT_FOUND',
        `no route for ${request.method} ${request.url.split('?')[0]}`,
      ),
    );
  });
}

/** Lists the error codes with their status and summary. */
export function errorCatalog(): Array<{ code: string; status: number; summary: string }> {
  return Object.entries(ERROR_CODES).map(([code, { status, summary }]) => ({
    code,
    status,
    summary,
  }));
}
