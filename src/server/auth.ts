import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { StewardError } from '../errors.js';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Management writes: the registry API and the repository extension's load and unload. The
 * repository index is a POST in the protocol but only reads, and inference is no management.
 * The check uses the matched route's pattern, not the raw URL, so an encoded path such as
 * `/%61pi/...` or an absolute-form request target cannot slip past it.
 */
function isManagementWrite(request: FastifyRequest): boolean {
  if (!WRITE_METHODS.has(request.method)) return false;
  const route = request.routeOptions.url;
  if (route === undefined || route === '/v2/repository/index') return false;
  return route.startsWith('/api/') || route.startsWith('/v2/repository/');
}

/**
 * Requires `Authorization: Bearer <token>` on management writes when a token is configured.
 * Both sides are hashed before the constant-time compare, so neither the token's bytes nor
 * its length leak through timing.
 */
export function installAdminAuth(app: FastifyInstance, token: string | undefined): void {
  if (token === undefined) return;
  const isAdmin = adminCheck(token);
  app.addHook('onRequest', async (request) => {
    if (!isManagementWrite(request)) return;
    if (!isAdmin(request)) {
      throw new StewardError(
        'UNAUTHORIZED',
        'this write needs the admin token: send "Authorization: Bearer <token>" (the value of STEWARD_ADMIN_TOKEN)',
        { field: 'authorization' },
      );
    }
  });
}

/**
 * Returns a check of whether a request carries the admin token. Every request passes when no
 * token is configured, as every write does then.
 */
export function adminCheck(token: string | undefined): (request: FastifyRequest) => boolean {
  if (token === undefined) return () => true;
  const expected = createHash('sha256').update(token).digest();
  return (request) => {
    const match = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '');
    const given = createHash('sha256')
      .update(match ? match[1]! : '')
      .digest();
    return match !== null && timingSafeEqual(given, expected);
  };
}

/** Returns the actor to record in histories: `admin` with a token, else `anonymous`, plus any X-Steward-Actor name. */
export function actorOf(request: FastifyRequest): string {
  const given = request.headers['x-steward-actor'];
  const name = typeof given === 'string' && /^[\w.@-]{1,64}$/.test(given) ? given : undefined;
  const base = request.headers.authorization ? 'admin' : 'anonymous';
  return name ? `${base}:${name}` : base;
}
