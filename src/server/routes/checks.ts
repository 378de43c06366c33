import type { FastifyInstance } from 'fastify';
import { StewardError } from '../../errors.js';
import { MAX_PROBE_BYTES, parseProbes } from '../../governance/probes/spec.js';
import { presentThresholds } from '../../governance/thresholds.js';
import type { Steward } from '../../steward.js';
import {
  presentExpectations,
  presentProbeRun,
  presentViolationCounts,
} from '../present-telemetry.js';

interface VersionParams {
  name: string;
  version: string;
}

/**
 * Registers the checks of versions and models: output expectations, violation counts and
 * samples, golden probes with their latest results, and per-model health thresholds.
 */
export function checkRoutes(app: FastifyInstance, steward: Steward): void {
  const base = '/api/v1/models/:name/versions/:version';
  const resolve = (params: VersionParams) => steward.catalog.resolve(params.name, params.version);

  app.get<{ Params: VersionParams }>(`${base}/expectations`, async (request) => {
    const record = resolve(request.params);
    return { model: record.model, version: record.version, ...expectationsOf(steward, record) };
  });

  app.put<{ Params: VersionParams }>(`${base}/expectations`, async (request) => {
    const record = resolve(request.params);
    const expectations = steward.expectations.parse(record, request.body);
    await steward.expectations.set(record, expectations);
    return { model: record.model, version: record.version, ...expectationsOf(steward, record) };
  });

  app.delete<{ Params: VersionParams }>(`${base}/expectations`, async (request) => {
    const record = resolve(request.params);
    await steward.expectations.clear(record.model, record.version);
    return { model: record.model, version: record.version, outputs: {}, updated_at: null };
  });

  app.get<{ Params: VersionParams }>(`${base}/violations`, async (request) => {
    const record = resolve(request.params);
    const usage = steward.usage.snapshot(record.model, record.version);
    const samples = await steward.usage.samples(record.model, record.version);
    return {
      model: record.model,
      version: record.version,
      checked_responses: usage.successes,
      invalid_responses: usage.invalidResponses,
      violations: presentViolationCounts(usage),
      samples: samples.map((sample) => ({
        recorded_at: sample.recordedAt,
        violations: sample.violations,
        inputs: sample.inputs,
        outputs: sample.outputs,
      })),
    };
  });

  app.get<{ Params: VersionParams }>(`${base}/probes`, async (request) => {
    const record = resolve(request.params);
    return probesOf(steward, record.model, record.version);
  });

  app.put<{ Params: VersionParams }>(
    `${base}/probes`,
    // Probes carry inference requests; the parser caps their JSON at MAX_PROBE_BYTES, and the
    // body may add whitespace around it.
    { bodyLimit: 2 * MAX_PROBE_BYTES },
    async (request) => {
      const record = resolve(request.params);
      await steward.probes.set(record, parseProbes(request.body, record.signature));
      return probesOf(steward, record.model, record.version);
    },
  );

  app.delete<{ Params: VersionParams }>(`${base}/probes`, async (request) => {
    const record = resolve(request.params);
    await steward.probes.clear(record.model, record.version);
    return probesOf(steward, record.model, record.version);
  });

  app.post<{ Params: VersionParams }>(`${base}/probes/run`, async (request) => {
    const record = resolve(request.params);
    const run = await steward.probes.runNow(record);
    return { model: record.model, version: record.version, ...presentProbeRun(run) };
  });

  app.get<{ Params: VersionParams }>(`${base}/probes/results`, async (request) => {
    const record = resolve(request.params);
    const run = await steward.probes.latestRun(record.model, record.version);
    if (!run) {
      throw new StewardError(
        'VERSION_NOT_FOUND',
        `model "${record.model}" version ${record.version} has no probe results yet; ` +
          'set probes and load the version, or run them with POST .../probes/run',
        { field: 'version' },
      );
    }
    return { model: record.model, version: record.version, ...presentProbeRun(run) };
  });

  thresholdRoutes(app, steward);
}

function thresholdRoutes(app: FastifyInstance, steward: Steward): void {
  const path = '/api/v1/models/:name/health-thresholds';
  const modelOf = (name: string) => {
    if (!steward.catalog.getModel(name)) {
      throw new StewardError('MODEL_NOT_FOUND', `model "${name}" is not registered`, {
        field: 'name',
      });
    }
    return name;
  };
  const present = (model: string) => ({
    model,
    thresholds: presentThresholds(steward.thresholds.for(model)),
    overrides: presentThresholds(steward.thresholds.overrides(model)),
    defaults: presentThresholds(steward.thresholds.defaults),
  });

  app.get<{ Params: { name: string } }>(path, async (request) =>
    present(modelOf(request.params.name)),
  );

  app.put<{ Params: { name: string } }>(path, async (request) => {
    const model = modelOf(request.params.name);
    await steward.thresholds.set(model, request.body);
    return present(model);
  });

  app.delete<{ Params: { name: string } }>(path, async (request) => {
    const model = modelOf(request.params.name);
    await steward.thresholds.clear(model);
    return present(model);
  });
}

function expectationsOf(steward: Steward, record: Parameters<typeof presentExpectations>[1]) {
  return presentExpectations(steward, record) ?? { outputs: {}, updated_at: null };
}

function probesOf(steward: Steward, model: string, version: number) {
  const run = steward.probes.lastRun(model, version);
  return {
    model,
    version,
    probes: steward.probes.probes(model, version),
    updated_at: steward.probes.updatedAt(model, version),
    last_run: run ? presentProbeRun(run) : null,
  };
}
