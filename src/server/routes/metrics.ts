import type { FastifyInstance } from 'fastify';
import type { Steward } from '../../steward.js';
import { MetricsExporter, type MetricsSnapshot } from '../../telemetry/metrics.js';
import { versionHealth } from '../present-telemetry.js';

/** Registers `GET /metrics`: Prometheus metrics of the server and of every current version. */
export function metricsRoutes(app: FastifyInstance, steward: Steward): void {
  const exporter = new MetricsExporter(() => gatherMetrics(steward));
  app.get('/metrics', async (_request, reply) => {
    const text = await exporter.render();
    return reply.type(exporter.contentType).send(text);
  });
}

/** Reads the figures of every version that is neither archived nor deleted. */
function gatherMetrics(steward: Steward): MetricsSnapshot {
  const versions = steward.catalog
    .allVersions()
    .filter((record) => record.state !== 'archived')
    .map((record) => {
      const load = steward.manager.status(record);
      const usage = steward.usage.snapshot(record.model, record.version);
      const run = steward.probes.lastRun(record.model, record.version);
      return {
        model: record.model,
        version: record.version,
        usage,
        shadowUsage: steward.shadowUsage.snapshot(record.model, record.version),
        loaded: load.instances > 0,
        memoryBytes: load.memoryBytes,
        health: versionHealth(steward, record, load, usage).status,
        failingProbes: run ? run.results.filter((result) => !result.passed).length : null,
      };
    });
  return {
    versions,
    models: steward.catalog.modelNames().length,
    memoryBudgetBytes: steward.manager.budgetBytes,
    memoryUsedBytes: steward.manager.usedBytes(),
  };
}
