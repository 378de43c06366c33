import { pipeline, type Readable, Transform } from 'node:stream';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { StewardError } from '../../errors.js';
import type { PublishRequest, UploadChecks } from '../../serving/publisher.js';
import { checkModelName } from '../../serving/publisher.js';
import type { Steward } from '../../steward.js';
import { actorOf } from '../auth.js';
import { bodyFields, optionalText, rejectUnknownFields } from '../fields.js';
import { presentModel, presentVersion } from '../present.js';

interface NameParams {
  name: string;
}

interface VersionParams extends NameParams {
  version: string;
}

interface UploadQuery {
  description?: string;
  alias?: string;
  filename?: string;
  expectations?: string;
  probes?: string;
}

/** Registers the management routes over models and versions: listing, details and upload. */
export async function modelRoutes(app: FastifyInstance, steward: Steward): Promise<void> {
  app.get('/api/v1/models', async () => ({
    models: steward.catalog
      .modelNames()
      .map((name) => presentModel(steward, steward.catalog.getModel(name)!)),
  }));

  app.get<{ Params: NameParams }>('/api/v1/models/:name', async (request) => {
    const model = steward.catalog.getModel(request.params.name);
    if (!model) throw modelNotFound(request.params.name);
    return presentModel(steward, model);
  });

  app.patch<{ Params: NameParams }>('/api/v1/models/:name', async (request) => {
    const model = steward.catalog.getModel(request.params.name);
    if (!model) throw modelNotFound(request.params.name);
    // A misspelt field would otherwise change nothing and still return 200.
    const body = bodyFields(request.body, ['description', 'labels']);
    const changes: { description?: string; labels?: Record<string, string> } = {};
    if (body.description !== undefined) {
      if (typeof body.description !== 'string' || body.description.length > 10_000) {
        throw new StewardError(
          'INVALID_ARGUMENT',
          'description must be a string of at most 10,000 characters',
          {
            field: 'description',
          },
        );
      }
      changes.description = body.description;
    }
    if (body.labels !== undefined) changes.labels = checkLabels(body.labels);
    await steward.registry.models.updateModel(model.name, changes);
    await steward.catalog.refreshModel(model.name);
    return presentModel(steward, steward.catalog.getModel(model.name)!);
  });

  app.get<{ Params: VersionParams }>('/api/v1/models/:name/versions/:version', async (request) => {
    const record = steward.catalog.resolve(request.params.name, request.params.version);
    return presentVersion(steward, record);
  });

  await app.register(async (upload) => uploadRoute(upload, steward));
}

/**
 * `POST /api/v1/models/{name}/versions`: the model file as the raw body (any content type
 * but multipart) or as the first file of a multipart form. Returns 201 with a new version, or
 * 200 with the existing one when the model already has these exact bytes.
 */
async function uploadRoute(app: FastifyInstance, steward: Steward): Promise<void> {
  const limit = steward.publisher.maxUploadBytes;
  // Every body but multipart reaches the handler as the raw stream, whatever its declared type;
  // the store streams it to disk and enforces the size limit as bytes arrive.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  await app.register(multipart, { limits: { fileSize: limit, files: 1, fields: 10 } });

  app.post<{ Params: NameParams }>('/api/v1/models/:name/versions', async (request, reply) => {
    checkModelName(request.params.name);
    const query = readUploadQuery(request.query);
    const declared = Number(request.headers['content-length'] ?? 0);
    // A multipart body carries form fields and boundaries too, so only a raw body is checked
    // against the limit here; the multipart parser checks the file part itself.
    if (!request.isMultipart() && declared > limit) {
      throw new StewardError(
        'PAYLOAD_TOO_LARGE',
        `model file of ${declared} bytes exceeds the upload limit of ${limit} bytes; raise --max-upload-size to accept it`,
        { field: 'file' },
      );
    }
    const publish = request.isMultipart()
      ? await fromMultipart(request, query)
      : fromRawBody(request, query);
    const result = await steward.publisher.publish({
      ...publish,
      model: request.params.name,
      actor: actorOf(request),
    });
    return reply.code(result.created ? 201 : 200).send(presentVersion(steward, result.record));
  });
}

const UPLOAD_QUERY_FIELDS = ['description', 'alias', 'filename', 'expectations', 'probes'];

/**
 * Reads the upload query: each field at most once, as text. An unknown field is rejected, so
 * a misspelt `alias` does not register the version without its alias.
 */
function readUploadQuery(raw: unknown): UploadQuery {
  const query = (raw ?? {}) as Record<string, unknown>;
  rejectUnknownFields(query, UPLOAD_QUERY_FIELDS, 'upload field');
  return {
    description: optionalText(query.description, 'description', 10_000),
    alias: optionalText(query.alias, 'alias', 1000),
    filename: optionalText(query.filename, 'filename', 1024),
    expectations: optionalText(query.expectations, 'expectations', 1_000_000),
    probes: optionalText(query.probes, 'probes', 1_000_000),
  };
}

type UploadParts = Omit<PublishRequest, 'model' | 'actor'>;

function fromRawBody(request: FastifyRequest, query: UploadQuery): UploadParts {
  const body = request.body as Readable | undefined;
  if (!body || typeof (body as Readable).pipe !== 'function') {
    throw new StewardError(
      'UNSUPPORTED_MEDIA_TYPE',
      'send the model file as the request body with Content-Type application/octet-stream, or as multipart/form-data',
      { field: 'file' },
    );
  }
  return {
    source: body,
    sourceName: query.filename ?? '',
    description: query.description ?? '',
    alias: query.alias,
    checks: parseChecks(query.expectations, query.probes),
  };
}

/** Parses the JSON of the `expectations` and `probes` upload fields; their content is checked later. */
function parseChecks(expectations: string | undefined, probes: string | undefined): UploadChecks {
  const parse = (field: string, text: string | undefined): unknown => {
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new StewardError(
        'INVALID_ARGUMENT',
        `the ${field} field is not valid JSON: ${(error as Error).message}`,
        { field },
      );
    }
  };
  return { expectations: parse('expectations', expectations), probes: parse('probes', probes) };
}

async function fromMultipart(request: FastifyRequest, query: UploadQuery): Promise<UploadParts> {
  let file: Awaited<ReturnType<FastifyRequest['file']>>;
  try {
    file = await request.file();
  } catch (error) {
    throw new StewardError(
      'INVALID_ARGUMENT',
      `malformed multipart body: ${(error as Error).message}`,
      {
        field: 'file',
        cause: error,
      },
    );
  }
  if (!file) {
    throw new StewardError(
      'INVALID_ARGUMENT',
      'the multipart form has no file part; add the model file',
      {
        field: 'file',
      },
    );
  }
  // Fields sent before the file part are available here; query fields take precedence.
  const field = (name: string): string | undefined => {
    const value = file.fields[name];
    if (value && !Array.isArray(value) && value.type === 'field') return String(value.value);
    return undefined;
  };
  // The parser stops at the size limit and marks the part truncated; the guard turns that into
  // an error before the end of the stream, so the staged file is never committed.
  const guard = new Transform({
    transform(chunk, _encoding, callback) {
      callback(null, chunk);
    },
    flush(callback) {
      if (!file.file.truncated) {
        callback();
        return;
      }
      callback(
        new StewardError(
          'PAYLOAD_TOO_LARGE',
          'model file exceeds the upload limit; raise --max-upload-size to accept it',
          { field: 'file' },
        ),
      );
    },
  });
  const source = pipeline(file.file, guard, () => undefined);
  return {
    source,
    sourceName: file.filename ?? '',
    description: query.description ?? field('description') ?? '',
    alias: query.alias ?? field('alias'),
    checks: parseChecks(
      query.expectations ?? field('expectations'),
      query.probes ?? field('probes'),
    ),
  };
}

function modelNotFound(name: string): StewardError {
  return new StewardError('MODEL_NOT_FOUND', `model "${name}" is not registered`, {
    field: 'name',
  });
}

/** Labels are a flat object of up to 64 string values, as in Kubernetes or MLflow tags. */
function checkLabels(labels: unknown): Record<string, string> {
  const valid =
    typeof labels === 'object' &&
    labels !== null &&
    !Array.isArray(labels) &&
    Object.keys(labels).length <= 64 &&
    Object.entries(labels).every(
      ([key, value]) =>
        /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/.test(key) &&
        typeof value === 'string' &&
        value.length <= 256,
    );
  if (!valid) {
    throw new StewardError(
      'INVALID_ARGUMENT',
      'labels must be an object of at most 64 entries: keys of letters, digits, ".", "_", "/" or "-" (up to 63), string values up to 256 characters',
      { field: 'labels' },
    );
  }
  return labels as Record<string, string>;
}
