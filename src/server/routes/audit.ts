import type { FastifyInstance } from 'fastify';
import { AUDIT_ACTIONS, type AuditEntry, type AuditFilter } from '../../registry/audit.js';
import { checkModelName } from '../../serving/publisher.js';
import type { Steward } from '../../steward.js';
import { optionalChoice, optionalInteger, optionalText, optionalTime } from '../fields.js';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

type AuditQuery = Record<string, unknown>;

/**
 * Registers the audit log reads: every entry, or one model's, newest first. A model's entries
 * stay readable after the model is deleted.
 */
export function auditRoutes(app: FastifyInstance, steward: Steward): void {
  app.get<{ Querystring: AuditQuery }>('/api/v1/audit', async (request) => {
    const model = optionalText(request.query.model, 'model', 128);
    if (model !== undefined) checkModelName(model);
    return presentEntries(await steward.audit.query(filterOf(request.query, model)));
  });

  app.get<{ Params: { name: string }; Querystring: AuditQuery }>(
    '/api/v1/models/:name/audit',
    async (request) => {
      checkModelName(request.params.name);
      const filter = filterOf(request.query, request.params.name);
      return { model: request.params.name, ...presentEntries(await steward.audit.query(filter)) };
    },
  );
}

function filterOf(query: AuditQuery, model: string | undefined): AuditFilter {
  return {
    model,
    version: optionalInteger(query.version, 'version', 1, Number.MAX_SAFE_INTEGER),
    action: optionalChoice(query.action, 'action', AUDIT_ACTIONS),
    actor: optionalText(query.actor, 'actor', 200),
    since: optionalTime(query.since, 'since'),
    until: optionalTime(query.until, 'until'),
    beforeId: optionalInteger(query.before, 'before', 1, Number.MAX_SAFE_INTEGER),
    limit: optionalInteger(query.limit, 'limit', 1, MAX_LIMIT) ?? DEFAULT_LIMIT,
  };
}

function presentEntries(entries: readonly AuditEntry[]) {
  return {
    entries: entries.map((entry) => ({
      id: entry.id,
      at: entry.at,
      actor: entry.actor,
      action: entry.action,
      model: entry.model,
      version: entry.version,
      reason: entry.reason,
      details: entry.details,
    })),
  };
}
