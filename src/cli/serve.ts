import type { FastifyInstance } from 'fastify';
import { type Config, isLoopbackHost } from '../config/config.js';
import { formatBytes } from '../config/units.js';
import { buildServer } from '../server/app.js';
import { seedExamples } from '../serving/seed.js';
import { createLogger, Steward } from '../steward.js';

/** A running server and the way to stop it. */
export interface RunningServer {
  readonly steward: Steward;
  readonly app: FastifyInstance;
  readonly url: string;
  stop(): Promise<void>;
}

/** Refuses a non-loopback address without an admin token unless insecure mode is on. */
export function checkExposure(config: Config): void {
  if (isLoopbackHost(config.host) || config.adminToken !== undefined || config.insecure) return;
  throw new Error(
    `refusing to listen on ${config.host} without an admin token: anyone who reaches it could ` +
      'upload or delete models. Set STEWARD_ADMIN_TOKEN, or pass --insecure to accept the risk',
  );
}

/** Opens Steward, registers examples when asked, listens, and starts preloading. */
export async function startServer(config: Config): Promise<RunningServer> {
  checkExposure(config);
  const logger = createLogger(config);
  const steward = await Steward.open(config, logger);
  let app: FastifyInstance | undefined;
  try {
    if (config.seedExamplesDir) await seedExamples(steward, config.seedExamplesDir);
    app = await buildServer(steward);
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app?.close();
    await steward.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  logStartup(steward, url);
  preload(steward);

  let stopping: Promise<void> | undefined;
  const server = app;
  const stop = () => {
    stopping ??= drain(steward, server);
    return stopping;
  };
  return { steward, app: server, url, stop };
}

/** Serves until SIGTERM or SIGINT, then drains and exits 0. */
export async function serve(config: Config): Promise<void> {
  const running = await startServer(config);
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // Ctrl-C under `npm start` reaches the server twice, once from the terminal and once
    // from npm, so a repeated signal must not cut the drain short.
    if (stopping) {
      running.steward.logger.warn(
        { signal },
        'shutdown already in progress; send SIGKILL to stop without draining',
      );
      return;
    }
    stopping = true;
    running.steward.logger.info({ signal }, 'shutdown requested; draining requests in flight');
    // The drain has its own timeout; this one only guards against a stop that hangs.
    const limitMs = config.drainTimeoutMs + 15_000;
    setTimeout(() => {
      running.steward.logger.error({ limitMs }, 'shutdown did not finish in time; exiting');
      process.exit(1);
    }, limitMs).unref();
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        running.steward.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

async function drain(steward: Steward, app: FastifyInstance): Promise<void> {
  steward.draining = true;
  const timeoutMs = steward.config.drainTimeoutMs;
  const timer = setTimeout(() => {
    steward.logger.warn({ timeoutMs }, 'drain timeout reached; closing remaining connections');
    app.server.closeAllConnections();
  }, timeoutMs);
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
  }
  await steward.close();
  steward.logger.info('steward stopped');
}

function logStartup(steward: Steward, url: string): void {
  const models = steward.catalog.modelNames().map((name) => ({
    name,
    versions: steward.catalog.versions(name).map((record) => ({
      version: record.version,
      state: steward.manager.status(record).state,
      aliases: steward.catalog.aliasesOf(name, record.version),
    })),
  }));
  steward.logger.info(
    {
      url,
      dataDir: steward.config.dataDir,
      workers: steward.config.workers,
      memoryBudget: formatBytes(steward.config.memoryBudgetBytes),
      adminToken: steward.config.adminToken ? 'set' : 'not set',
      models,
    },
    `steward listening on ${url} with ${models.length} models`,
  );
  if (process.platform === 'linux' && process.env.MALLOC_MMAP_THRESHOLD_ === undefined) {
    steward.logger.warn(
      'MALLOC_MMAP_THRESHOLD_ is not set: memory of unloaded models may stay in the allocator ' +
        'instead of returning to the system, and memory measurements are less exact; ' +
        'start with MALLOC_MMAP_THRESHOLD_=131072 (see docs/memory.md)',
    );
  }
}

/** Loads and pins the versions behind preloaded aliases; readiness reports the progress. */
function preload(steward: Steward): void {
  for (const alias of steward.config.preloadAliases) {
    for (const name of steward.catalog.modelNames()) {
      const version = steward.catalog.aliasTarget(name, alias);
      const record = version === undefined ? undefined : steward.catalog.getVersion(name, version);
      if (!record) continue;
      steward.manager.setPinned(record, true, 'preload');
      const reason = `preloaded alias "${alias}"`;
      steward.manager.load(record, { explicit: true, reason }).catch((error: unknown) => {
        steward.logger.error({ model: name, version, alias, err: error }, 'preload failed');
      });
    }
  }
}
