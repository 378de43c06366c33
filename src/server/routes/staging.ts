import type { FastifyInstance } from 'fastify';
import { HEADER_NAME_PATTERN } from '../../config/config.js';
import { formatReceived, StewardError } from '../../errors.js';
import type { StagingPatch } from '../../serving/staging/settings.js';
import type { Steward } from '../../steward.js';
import { actorOf, adminCheck } from '../auth.js';
import { bodyFields, optionalBoolean } from '../fields.js';
import { presentComparison, presentStagingSettings } from '../present-staging.js';

interface NameParams {
  name: string;
}

/** Registers staging settings, the comparison report, promotion and rollback. */
export function stagingRoutes(app: FastifyInstance, steward: Steward): void {
  // Disagreement samples contain other clients' inputs and outputs, so with an admin token
  // configured only requests that carry it see them.
  const isAdmin = adminCheck(steward.config.adminToken);

  app.get<{ Params: NameParams }>('/api/v1/models/:name/staging', async (request) => {
    checkModel(steward, request.params.name);
    return presentStagingSettings(steward, request.params.name);
  });

  app.put<{ Params: NameParams }>('/api/v1/models/:name/staging', async (request) => {
    checkModel(steward, request.params.name);
    const patch = parseSettings(request.body);
    await steward.staging.updateSettings(request.params.name, patch, actorOf(request));
    return presentStagingSettings(steward, request.params.name);
  });

  app.get<{ Params: NameParams }>('/api/v1/models/:name/comparison', async (request) => {
    checkModel(steward, request.params.name);
    return presentComparison(steward, request.params.name, isAdmin(request));
  });

  app.post<{ Params: NameParams }>('/api/v1/models/:name/promote', async (request) => {
    const body = bodyFields(request.body, [
      'min_requests',
      'min_agreement_percent',
      'reason',
      'force',
    ]);
    const result = await steward.staging.promotion.promote({
      model: request.params.name,
      actor: actorOf(request),
      reason: optionalText(body.reason, 'reason'),
      minRequests: optionalCount(body.min_requests, 'min_requests'),
      minAgreementPercent: optionalPercent(body.min_agreement_percent, 'min_agreement_percent'),
      force: optionalBoolean(body.force, 'force'),
    });
    return {
      model: result.model,
      production_version: result.productionVersion,
      previous_version: result.previousVersion,
      staging_version: null,
      summary: result.comparison?.summary ?? null,
    };
  });

  app.post<{ Params: NameParams }>('/api/v1/models/:name/rollback', async (request) => {
    const body = bodyFields(request.body, ['reason']);
    const result = await steward.staging.promotion.rollback({
      model: request.params.name,
      actor: actorOf(request),
      reason: optionalText(body.reason, 'reason'),
    });
    return {
      model: result.model,
      production_version: result.productionVersion,
      previous_version: result.previousVersion,
    };
  });
}

function checkModel(steward: Steward, name: string): void {
  if (steward.catalog.getModel(name)) return;
  throw new StewardError('MODEL_NOT_FOUND', `model "${name}" is not registered`, { field: 'name' });
}

/** Reads a settings change: each field a value to override the default, or null to clear it. */
function parseSettings(raw: unknown): StagingPatch {
  const body = bodyFields(raw, ['shadow_percent', 'canary_percent', 'canary_header', 'tolerance']);
  const nullable = <T>(value: unknown, parse: (value: unknown) => T): T | null | undefined =>
    value === null ? null : parse(value);
  return {
    shadowPercent: nullable(body.shadow_percent, (v) => optionalPercent(v, 'shadow_percent')),
    canaryPercent: nullable(body.canary_percent, (v) => optionalPercent(v, 'canary_percent')),
    canaryHeader: nullable(body.canary_header, (v) => optionalHeader(v)),
    tolerance: nullable(body.tolerance, (v) => optionalTolerance(v)),
  };
}

function optionalPercent(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value >= 0 && value <= 100)) {
    throw new StewardError(
      'INVALID_ARGUMENT',
      `${field} must be a number of percent from 0 to 100, such as 20; received ${formatReceived(value)}`,
      { field },
    );
  }
  return value;
}

function optionalCount(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new StewardError(
      'INVALID_ARGUMENT',
      `${field} must be a whole number of 0 or more; received ${formatReceived(value)}`,
      { field },
    );
  }
  return value;
}

function optionalText(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > 1000) {
    throw new StewardError(
      'INVALID_ARGUMENT',
      `${field} must be a string of at most 1000 characters`,
      { field },
    );
  }
  return value;
}

function optionalHeader(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !HEADER_NAME_PATTERN.test(value)) {
    throw new StewardError(
      'INVALID_ARGUMENT',
      `canary_header must be an HTTP header name such as "x-user-id", or null to route at random; received ${formatReceived(value)}`,
      { field: 'canary_header' },
    );
  }
  return value.toLowerCase();
}

function optionalTolerance(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new StewardError(
      'INVALID_ARGUMENT',
      `tolerance must be a number of 0 or more, such as 0.0001; received ${formatReceived(value)}`,
      { field: 'tolerance' },
    );
  }
  return value;
}
