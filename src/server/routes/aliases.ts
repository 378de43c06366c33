import type { FastifyInstance } from 'fastify';
import { formatReceived, StewardError } from '../../errors.js';
import type { Steward } from '../../steward.js';
import { actorOf } from '../auth.js';
import { bodyObject, optionalText } from '../fields.js';

interface AliasParams {
  name: string;
  alias: string;
}

/** Registers alias changes and the alias history of a model. */
export function aliasRoutes(app: FastifyInstance, steward: Steward): void {
  app.put<{ Params: AliasParams }>('/api/v1/models/:name/aliases/:alias', async (request) => {
    const body = bodyObject(request.body, ['version', 'reason']);
    const version = body.version;
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
      throw new StewardError(
        'INVALID_ARGUMENT',
        `send {"version": N} with the version number the alias should point at; received ${formatReceived(version)}`,
        { field: 'version' },
      );
    }
    const previous = steward.catalog.aliasTarget(request.params.name, request.params.alias) ?? null;
    const change = await steward.aliases.set({
      model: request.params.name,
      alias: request.params.alias,
      version,
      actor: actorOf(request),
      reason: optionalText(body.reason, 'reason') ?? '',
    });
    return {
      model: request.params.name,
      alias: request.params.alias,
      version,
      previous_version: previous,
      changed: change !== undefined,
    };
  });

  app.delete<{ Params: AliasParams; Querystring: { reason?: string } }>(
    '/api/v1/models/:name/aliases/:alias',
    async (request) => {
      const change = await steward.aliases.remove({
        model: request.params.name,
        alias: request.params.alias,
        actor: actorOf(request),
        reason: optionalText(request.query.reason, 'reason') ?? '',
      });
      return {
        model: request.params.name,
        alias: request.params.alias,
        version: null,
        previous_version: change?.fromVersion ?? null,
        changed: change !== undefined,
      };
    },
  );

  app.get<{ Params: { name: string } }>('/api/v1/models/:name/history', async (request) => {
    const name = request.params.name;
    if (!steward.catalog.getModel(name)) {
      throw new StewardError('MODEL_NOT_FOUND', `model "${name}" is not registered`, {
        field: 'name',
      });
    }
    const history = await steward.registry.aliases.history(name);
    return {
      model: name,
      history: history.map((change) => ({
        alias: change.alias,
        from_version: change.fromVersion,
        to_version: change.toVersion,
        actor: change.actor,
        reason: change.reason,
        changed_at: change.changedAt,
      })),
    };
  });
}
