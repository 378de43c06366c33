import type { FastifyInstance } from 'fastify';
import { StewardError } from '../../errors.js';
import type { VersionRecord } from '../../registry/records.js';
import type { Steward } from '../../steward.js';
import { modelStatistics } from '../../telemetry/statistics.js';

/**
 * Registers Triton's statistics extension: `GET /v2/models/stats` for every version,
 * `/v2/models/{name}/stats` for the versions of one model, and
 * `/v2/models/{name}/versions/{v}/stats` for one version, where `{v}` may be an alias.
 * Archived versions are left out of the lists.
 */
export function statisticsRoutes(app: FastifyInstance, steward: Steward): void {
  const statsOf = (records: readonly VersionRecord[]) => ({
    model_stats: records.map((record) =>
      modelStatistics(
        record.model,
        record.version,
        steward.usage.snapshot(record.model, record.version),
        steward.manager.status(record).memoryBytes,
      ),
    ),
  });
  const current = (records: readonly VersionRecord[]) =>
    records.filter((record) => record.state !== 'archived');

  app.get('/v2/models/stats', async () => statsOf(current(steward.catalog.allVersions())));

  app.get<{ Params: { name: string } }>('/v2/models/:name/stats', async (request) => {
    const name = request.params.name;
    if (!steward.catalog.getModel(name)) {
      throw new StewardError('MODEL_NOT_FOUND', `model "${name}" is not registered`, {
        field: 'name',
      });
    }
    return statsOf(current(steward.catalog.versions(name)));
  });

  app.get<{ Params: { name: string; version: string } }>(
    '/v2/models/:name/versions/:version/stats',
    async (request) =>
      statsOf([steward.catalog.resolve(request.params.name, request.params.version)]),
  );
}
