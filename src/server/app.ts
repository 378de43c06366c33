import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { StewardError } from '../errors.js';
import type { Steward } from '../steward.js';
import { installAdminAuth } from './auth.js';
import { installErrorHandling, sendError } from './errors.js';
import { aliasRoutes } from './routes/aliases.js';
import { auditRoutes } from './routes/audit.js';
import { checkRoutes } from './routes/checks.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { governanceRoutes } from './routes/governance.js';
import { healthRoutes } from './routes/health.js';
import { inferenceRoutes } from './routes/inference.js';
import { latencyRoutes } from './routes/latency.js';
import { lifecycleRoutes } from './routes/lifecycle.js';
import { metricsRoutes } from './routes/metrics.js';
import { modelRoutes } from './routes/models.js';
import { reportRoutes } from './routes/report.js';
import { repositoryRoutes } from './routes/repository.js';
import { stagingRoutes } from './routes/staging.js';
import { statisticsRoutes } from './routes/statistics.js';

/** Builds the HTTP server over a Steward instance; the caller listens and closes it. */
export async function buildServer(steward: Steward): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: steward.logger as FastifyBaseLogger,
    // Per-request lines come from the onResponse hook below at debug level, and from the
    // error handler for failures, so Fastify's own per-request lines are off.
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: 'requestId',
    }),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // Requests arriving while the server drains get the SHUTTING_DOWN error from the hook
    // below, in Steward's error shape, instead of Fastify's own 503 body.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    bodyLimit: 1024 * 1024,
    routerOptions: {
      // Long names must reach the name check, which explains the rule, instead of a bare 404.
      maxParamLength: 2048,
    },
    frameworkErrors: (error, request, reply) => {
      sendError(
        request,
        reply,
        new StewardError('INVALID_ARGUMENT', `invalid request path: ${error.message}`, {
          field: 'path',
        }),
      );
    },
  });
  installErrorHandling(app);
  // The routes registered here read JSON bodies only, so a text/plain body gets a 415 instead
  // of reaching a handler as a string. Inference and upload routes set their own parsers.
  app.removeContentTypeParser('text/plain');
  installAdminAuth(app, steward.config.adminToken);
  app.addHook('onRequest', async (request, reply) => {
    // Liveness still holds while draining; everything else is turned away.
    if (!steward.draining || request.url === '/v2/health/live') return;
    reply.header('connection', 'close');
    throw new StewardError(
      'SHUTTING_DOWN',
      'Steward is shutting down; send the request again later or to another instance',
    );
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug(
      { method: request.method, url: request.url, status: reply.statusCode, ms: reply.elapsedTime },
      'request completed',
    );
  });

  healthRoutes(app, steward);
  aliasRoutes(app, steward);
  lifecycleRoutes(app, steward);
  repositoryRoutes(app, steward);
  reportRoutes(app, steward);
  checkRoutes(app, steward);
  statisticsRoutes(app, steward);
  metricsRoutes(app, steward);
  governanceRoutes(app, steward);
  auditRoutes(app, steward);
  latencyRoutes(app, steward);
  dashboardRoutes(app);
  stagingRoutes(app, steward);
  await app.register(async (scope) => inferenceRoutes(scope, steward));
  await app.register(async (scope) => modelRoutes(scope, steward));
  return app;
}
