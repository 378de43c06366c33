import type { FastifyInstance } from 'fastify';
import { formatReceived, StewardError } from '../../errors.js';
import type { LoadState } from '../../serving/managed-version.js';
import type { Steward } from '../../steward.js';
import { actorOf } from '../auth.js';
import { bodyObject, optionalBoolean } from '../fields.js';

/** Triton's repository states for Steward's load states. */
const REPOSITORY_STATES: Record<LoadState, string> = {
  registered: 'UNAVAILABLE',
  loading: 'LOADING',
  ready: 'READY',
  unloading: 'UNLOADING',
  unloaded: 'UNAVAILABLE',
  failed: 'UNAVAILABLE',
  archived: 'UNAVAILABLE',
};

/**
 * Registers Triton's model repository extension: the index of every version with its state,
 * and explicit load and unload of a model.
 */
export function repositoryRoutes(app: FastifyInstance, steward: Steward): void {
  app.post('/v2/repository/index', async (request) => {
    const body = bodyObject(request.body, ['ready']);
    const readyOnly = optionalBoolean(body.ready, 'ready') ?? false;
    const entries = steward.catalog.allVersions().map((record) => {
      const status = steward.manager.status(record);
      const reason =
        status.state === 'ready' ? '' : describeUnavailable(status.state, status.reason);
      return {
        name: record.model,
        version: String(record.version),
        state: REPOSITORY_STATES[status.state],
        reason,
      };
    });
    return readyOnly ? entries.filter((entry) => entry.state === 'READY') : entries;
  });

  app.post<{ Params: { name: string } }>('/v2/repository/models/:name/load', async (request) => {
    const version = loadParameters(request.body).version;
    if (version !== undefined && typeof version !== 'string' && typeof version !== 'number') {
      throw new StewardError(
        'INVALID_ARGUMENT',
        'parameters.version must be a version number or an alias',
        {
          field: 'parameters.version',
        },
      );
    }
    const record = steward.catalog.resolve(
      request.params.name,
      version === undefined ? undefined : String(version),
    );
    await steward.lifecycle.load(record, actorOf(request));
    return {};
  });

  app.post<{ Params: { name: string } }>('/v2/repository/models/:name/unload', async (request) => {
    const name = request.params.name;
    if (!steward.catalog.getModel(name)) {
      throw new StewardError('MODEL_NOT_FOUND', `model "${name}" is not registered`, {
        field: 'name',
      });
    }
    await steward.lifecycle.unloadModel(name, actorOf(request));
    return {};
  });
}

/** Returns the `parameters` object of a load request. Steward uses only its `version`. */
function loadParameters(raw: unknown): Record<string, unknown> {
  const parameters = bodyObject(raw, ['parameters']).parameters;
  if (parameters === undefined) return {};
  if (parameters === null || typeof parameters !== 'object' || Array.isArray(parameters)) {
    throw new StewardError(
      'INVALID_ARGUMENT',
      `parameters must be a JSON object, such as {"version": "2"}; received ${formatReceived(parameters)}`,
      { field: 'parameters' },
    );
  }
  return parameters as Record<string, unknown>;
}

function describeUnavailable(state: LoadState, reason: string): string {
  switch (state) {
    case 'registered':
      return 'not loaded; the first request loads it';
    case 'unloaded':
      return `unloaded: ${reason}`;
    case 'failed':
      return `load failed: ${reason}`;
    case 'archived':
      return 'archived';
    default:
      return reason;
  }
}
