import type { FastifyInstance } from 'fastify';
import { StewardError } from '../../errors.js';
import type { GcRun } from '../../governance/gc.js';
import { presentPolicy } from '../../governance/policy.js';
import type { Steward } from '../../steward.js';
import { actorOf } from '../auth.js';
import { bodyObject, optionalBoolean, optionalText } from '../fields.js';
import { presentVersion } from '../present.js';

interface VersionParams {
  name: string;
  version: string;
}

/** Registers archive and restore of versions, gc runs and the retirement policy in force. */
export function governanceRoutes(app: FastifyInstance, steward: Steward): void {
  for (const operation of ['archive', 'restore'] as const) {
    app.post<{ Params: VersionParams }>(
      `/api/v1/models/:name/versions/:version/${operation}`,
      async (request) => {
        const body = bodyObject(request.body);
        const reason = optionalText(body.reason, 'reason') ?? '';
        const record = steward.catalog.resolve(request.params.name, request.params.version);
        const change = { actor: actorOf(request), reason };
        const result =
          operation === 'archive'
            ? await steward.archive.archive(record, change)
            : await steward.archive.restore(record, change);
        const current = steward.catalog.getVersion(record.model, record.version) ?? record;
        return { ...presentVersion(steward, current), changed: result.changed };
      },
    );
  }

  app.post('/api/v1/gc', async (request) => {
    const body = bodyObject(request.body);
    const dryRun = optionalBoolean(body.dry_run, 'dry_run');
    if (dryRun === undefined) {
      throw new StewardError(
        'INVALID_ARGUMENT',
        'send {"dry_run": true} to see what gc would do, or {"dry_run": false} to do it',
        { field: 'dry_run' },
      );
    }
    const run = await steward.gc.run({ dryRun, actor: actorOf(request) });
    return presentRun(run, steward.gc.policy.source);
  });

  app.get('/api/v1/policy', async () => presentPolicy(steward.gc.policy));
}

function presentRun(run: GcRun, policySource: string | null) {
  const count = (predicate: (result: GcRun['results'][number]) => boolean) =>
    run.results.filter(predicate).length;
  const applied = (outcome: string) => outcome === 'planned' || outcome === 'done';
  return {
    run_id: run.runId,
    dry_run: run.dryRun,
    evaluated_at: run.now,
    policy_source: policySource,
    summary: {
      archive: count((r) => r.action === 'archive' && applied(r.outcome)),
      delete: count((r) => r.action === 'delete' && applied(r.outcome)),
      skip: count((r) => r.action === 'skip'),
      failed: count((r) => r.outcome === 'failed'),
    },
    results: run.results.map((result) => ({
      model: result.model,
      version: result.version,
      action: result.action,
      outcome: result.outcome,
      reasons: result.reasons,
      protected_by: result.protectedBy,
      error: result.error,
    })),
  };
}
