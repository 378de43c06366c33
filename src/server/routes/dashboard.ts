import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { StewardError } from '../../errors.js';

/**
 * The dashboard's files stay beside their sources: this module runs from
 * dist/src/server/routes/, and tsc copies no HTML, CSS or browser JavaScript into dist/.
 */
const DASHBOARD_DIR = fileURLToPath(new URL('../../../../src/server/dashboard/', import.meta.url));
const require = createRequire(import.meta.url);

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

const HTML = 'text/html; charset=utf-8';

function own(file: string, type: string): Asset {
  return { body: readFileSync(path.join(DASHBOARD_DIR, file)), type };
}

function uplot(file: string, type: string): Asset {
  return { body: readFileSync(require.resolve(`uplot/dist/${file}`)), type };
}

/** Reads the files served under /assets/, by name. No other file is served from disk. */
function loadAssets(): Map<string, Asset> {
  return new Map([
    ['dashboard.css', own('dashboard.css', 'text/css; charset=utf-8')],
    ['common.js', own('common.js', 'text/javascript; charset=utf-8')],
    ['fleet.js', own('fleet.js', 'text/javascript; charset=utf-8')],
    ['model.js', own('model.js', 'text/javascript; charset=utf-8')],
    ['uPlot.iife.min.js', uplot('uPlot.iife.min.js', 'text/javascript; charset=utf-8')],
    ['uPlot.min.css', uplot('uPlot.min.css', 'text/css; charset=utf-8')],
  ]);
}

/**
 * The pages only read the public API from the same origin. uPlot sizes its elements through
 * inline styles, hence 'unsafe-inline' for styles only.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** Registers the dashboard: the fleet at `/`, a page per model at `/models/{name}`, and their assets. */
export function dashboardRoutes(app: FastifyInstance): void {
  const assets = loadAssets();
  const fleetPage = own('index.html', HTML);
  const modelPage = own('model.html', HTML);
  const send = (reply: FastifyReply, asset: Asset) =>
    reply
      .type(asset.type)
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .send(asset.body);

  app.get('/', (_request, reply) => send(reply, fleetPage));
  // The page reads the model name from its own path and fetches the rest from the API.
  app.get('/models/:name', (_request, reply) => send(reply, modelPage));
  app.get<{ Params: { file: string } }>('/assets/:file', (request, reply) => {
    const asset = assets.get(request.params.file);
    if (!asset) {
      throw new StewardError(
        'ROUTE_NOT_FOUND',
        `no dashboard file named "${request.params.file}"`,
        { field: 'path' },
      );
    }
    return send(reply, asset);
  });
}
