import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StewardError } from '../../errors.js';
import type { VersionRecord } from '../../registry/records.js';
import { platformOf } from '../../runtimes/formats.js';
import type { Steward } from '../../steward.js';

interface ModelParams {
  name: string;
  version?: string;
}

/** Header of the binary tensor extension: the byte length of the JSON part of the body. */
const HEADER_LENGTH = 'inference-header-content-length';

/**
 * Open Inference Protocol model routes: metadata, readiness and inference, each with and
 * without `/versions/{version}`. A version segment may also name an alias.
 */
export function inferenceRoutes(app: FastifyInstance, steward: Steward): void {
  // Inference bodies are parsed here, whatever their content type, so JSON errors and the
  // binary extension get protocol error bodies and the configured size limit.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  // NOTE: parsing a JSON body takes far more memory than its size (about 17x for an array of
  // zeros), outside the memory budget; the binary tensor extension costs about its size.
  const bodyLimit = steward.config.maxRequestBytes;

  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get<{ Params: ModelParams }>(prefix, async (request) => {
      const record = resolve(steward, request.params);
      return metadata(steward, record);
    });

    app.get<{ Params: ModelParams }>(`${prefix}/ready`, async (request, reply) => {
      const record = resolve(steward, request.params);
      if (!steward.manager.isReady(record)) {
        const state = steward.manager.status(record).state;
        return reply.code(503).send({
          error: `model "${record.model}" version ${record.version} is ${state}, not loaded; the next inference request loads it`,
        });
      }
      return { name: record.model, version: String(record.version), ready: true };
    });

    app.post<{ Params: ModelParams }>(`${prefix}/infer`, { bodyLimit }, (request, reply) =>
      infer(steward, request, reply),
    );
  }
}

function resolve(steward: Steward, params: ModelParams): VersionRecord {
  return steward.catalog.resolve(params.name, params.version);
}

function metadata(steward: Steward, record: VersionRecord) {
  const versions = steward.catalog
    .versions(record.model)
    .filter((version) => version.state !== 'archived')
    .map((version) => String(version.version));
  return {
    name: record.model,
    versions,
    platform: platformOf(record.format),
    inputs: record.signature.inputs,
    outputs: record.signature.outputs,
  };
}

async function infer(
  steward: Steward,
  request: FastifyRequest<{ Params: ModelParams }>,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const { json, binary } = splitBody(request);
  checkNesting(json);
  let body: unknown;
  try {
    body = JSON.parse(json.toString('utf8'));
  } catch (error) {
    throw new StewardError(
      'INVALID_ARGUMENT',
      `request body is not valid JSON: ${(error as Error).message}`,
      { field: 'body' },
    );
  }
  const { response, shadow } = await steward.inference.infer(
    request.params.name,
    request.params.version,
    { json: body, binary, bytes: (request.body as Buffer).length },
    request.headers,
  );
  // The staging run starts only once the production response is out, so it cannot delay it.
  if (shadow) reply.raw.once('close', () => steward.staging.shadow.submit(shadow));
  if (response.binary.length === 0) {
    return reply.type('application/json').send(response.json);
  }
  const head = Buffer.from(response.json, 'utf8');
  return reply
    .header('Inference-Header-Content-Length', head.length)
    .type('application/octet-stream')
    .send(Buffer.concat([head, ...response.binary]));
}

function splitBody(request: FastifyRequest): { json: Buffer; binary: Buffer | undefined } {
  const body = request.body;
  if (!Buffer.isBuffer(body) || body.length === 0) {
    throw new StewardError(
      'INVALID_ARGUMENT',
      'request body is empty: send an inference request as JSON',
      { field: 'body' },
    );
  }
  const header = request.headers[HEADER_LENGTH];
  if (header === undefined) return { json: body, binary: undefined };
  const length =
    typeof header === 'string' && /^\d{1,15}$/.test(header) ? Number(header) : Number.NaN;
  if (!Number.isSafeInteger(length) || length > body.length) {
    throw new StewardError(
      'INVALID_ARGUMENT',
      `Inference-Header-Content-Length is ${JSON.stringify(header)}, but it must be a byte count from 0 to the body size ${body.length}`,
      { field: 'Inference-Header-Content-Length' },
    );
  }
  return { json: body.subarray(0, length), binary: body.subarray(length) };
}

/** Deepest array or object nesting accepted in a request; tensors have a handful of dimensions. */
const MAX_NESTING = 64;

/**
 * Rejects JSON nested deeper than MAX_NESTING before it is parsed: parsing and walking a body
 * of millions of nested brackets would hold the event loop for seconds.
 */
function checkNesting(json: Buffer): void {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < json.length; index += 1) {
    const byte = json[index]!;
    if (inString) {
      if (byte === 0x5c) index += 1;
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) {
      inString = true;
    } else if (byte === 0x5b || byte === 0x7b) {
      depth += 1;
      if (depth > MAX_NESTING) {
        throw new StewardError(
          'INVALID_ARGUMENT',
          `request body nests arrays or objects deeper than ${MAX_NESTING} levels; send tensor data flat in row-major order`,
          { field: 'body' },
        );
      }
    } else if (byte === 0x5d || byte === 0x7d) {
      depth -= 1;
    }
  }
}
