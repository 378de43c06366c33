import type { FastifyInstance } from 'fastify';
import type { Steward } from '../../steward.js';
import { STEWARD_VERSION } from '../../version.js';

/** Protocol extensions this server implements, as `GET /v2` lists them. */
const EXTENSIONS = ['binary_tensor_data', 'model_repository', 'statistics'];

/** Open Inference Protocol server metadata, liveness and readiness. */
export function healthRoutes(app: FastifyInstance, steward: Steward): void {
  app.get('/v2', async () => ({
    name: 'steward',
    version: STEWARD_VERSION,
    extensions: EXTENSIONS,
  }));

  // Liveness touches nothing but the event loop, so it responds while models load or run.
  app.get('/v2/health/live', async () => ({ live: true }));

  app.get('/v2/health/ready', async (_request, reply) => {
    const waiting = preloadProblems(steward);
    if (waiting.length > 0) {
      return reply.code(503).send({ error: `not ready: ${waiting.join('; ')}` });
    }
    return { ready: true };
  });
}

/** Versions behind preloaded aliases that are not loaded yet, or failed to load. */
function preloadProblems(steward: Steward): string[] {
  const problems: string[] = [];
  for (const alias of steward.config.preloadAliases) {
    for (const name of steward.catalog.modelNames()) {
      const version = steward.catalog.aliasTarget(name, alias);
      if (version === undefined) continue;
      const managed = steward.manager.get(name, version);
      if (managed?.state === 'ready') continue;
      const state = managed?.state ?? 'registered';
      const detail = state === 'failed' ? `failed: ${managed?.reason}` : state;
      problems.push(`${name} version ${version} (${alias}) is ${detail}`);
    }
  }
  return problems;
}
