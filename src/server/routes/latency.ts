import type { FastifyInstance } from 'fastify';
import type { Steward } from '../../steward.js';

interface VersionParams {
  name: string;
  version: string;
}

/** Registers the per-minute latency of a version over the last two hours. */
export function latencyRoutes(app: FastifyInstance, steward: Steward): void {
  app.get<{ Params: VersionParams }>(
    '/api/v1/models/:name/versions/:version/latency',
    async (request) => {
      const record = steward.catalog.resolve(request.params.name, request.params.version);
      const series = steward.usage.series;
      return {
        model: record.model,
        version: record.version,
        interval_seconds: series.intervalMs / 1000,
        window_minutes: (series.intervals * series.intervalMs) / 60_000,
        points: series.points(record.model, record.version).map((point) => ({
          start: point.start,
          requests: point.requests,
          errors: point.errors,
          p50_ms: point.p50Ms,
          p95_ms: point.p95Ms,
        })),
      };
    },
  );
}
