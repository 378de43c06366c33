import type { FastifyInstance } from 'fastify';
import { StewardError } from '../../errors.js';
import type { Steward } from '../../steward.js';
import { actorOf } from '../auth.js';
import { optionalText } from '../fields.js';
import { presentLoaded, presentVersion } from '../present.js';

interface VersionParams {
  name: string;
  version: string;
}

interface ForceQuery {
  force?: string;
  reason?: string;
}

function isForced(query: ForceQuery): boolean {
  return query.force === 'true' || query.force === '1';
}

/** Registers explicit load, unload, pin and delete of versions, and the list of loaded versions. */
export function lifecycleRoutes(app: FastifyInstance, steward: Steward): void {
  app.get('/api/v1/loaded', async () => presentLoaded(steward));

  app.get<{ Params: VersionParams }>(
    '/api/v1/models/:name/versions/:version/transitions',
    async (request) => {
      const record = steward.catalog.resolve(request.params.name, request.params.version);
      return {
        model: record.model,
        version: record.version,
        transitions: steward.manager.status(record).transitions,
      };
    },
  );

  app.post<{ Params: VersionParams }>(
    '/api/v1/models/:name/versions/:version/load',
    async (request) => {
      const record = steward.catalog.resolve(request.params.name, request.params.version);
      await steward.lifecycle.load(record, actorOf(request));
      return presentVersion(steward, record);
    },
  );

  app.post<{ Params: VersionParams }>(
    '/api/v1/models/:name/versions/:version/unload',
    async (request) => {
      const record = steward.catalog.resolve(request.params.name, request.params.version);
      await steward.lifecycle.unload(record, actorOf(request));
      return presentVersion(steward, record);
    },
  );

  for (const method of ['PUT', 'DELETE'] as const) {
    app.route<{ Params: VersionParams }>({
      method,
      url: '/api/v1/models/:name/versions/:version/pin',
      handler: async (request) => {
        const record = steward.catalog.resolve(request.params.name, request.params.version);
        const actor = actorOf(request);
        if (method === 'DELETE') {
          steward.lifecycle.setPinned(record, false, actor);
          return presentVersion(steward, record);
        }
        const wasPinned =
          steward.manager.get(record.model, record.version)?.pins.has('user') ?? false;
        steward.lifecycle.setPinned(record, true, actor);
        // A pin keeps a version loaded, so pinning loads it now rather than on its next request.
        // A pin whose load fails is taken back, so it cannot block archive or gc.
        try {
          await steward.lifecycle.load(record, actor, 'pinned');
        } catch (error) {
          if (!wasPinned) steward.lifecycle.setPinned(record, false, actor);
          throw error;
        }
        return presentVersion(steward, record);
      },
    });
  }

  app.delete<{ Params: VersionParams; Querystring: ForceQuery }>(
    '/api/v1/models/:name/versions/:version',
    async (request) => {
      const record = steward.catalog.resolve(request.params.name, request.params.version);
      const result = await steward.lifecycle.deleteVersion(record, {
        force: isForced(request.query),
        actor: actorOf(request),
        reason: optionalText(request.query.reason, 'reason'),
      });
      return {
        model: result.model,
        version: result.version,
        removed_aliases: result.removedAliases,
        artifact_removed: result.artifactRemoved,
      };
    },
  );

  app.delete<{ Params: { name: string }; Querystring: ForceQuery }>(
    '/api/v1/models/:name',
    async (request) => {
      if (!steward.catalog.getModel(request.params.name)) {
        throw new StewardError(
          'MODEL_NOT_FOUND',
          `model "${request.params.name}" is not registered`,
          {
            field: 'name',
          },
        );
      }
      const results = await steward.lifecycle.deleteModel(request.params.name, {
        force: isForced(request.query),
        actor: actorOf(request),
        reason: optionalText(request.query.reason, 'reason'),
      });
      return {
        model: request.params.name,
        deleted_versions: results.map((result) => result.version),
      };
    },
  );
}
