import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseBytes, parseDuration } from './units.js';

/** The server configuration, frozen once resolved from flags, environment and file. */
export interface Config {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** Bearer token required for every management write; undefined leaves writes open. */
  readonly adminToken: string | undefined;
  /** Allows a non-loopback bind address without an admin token. */
  readonly insecure: boolean;
  readonly logLevel: string;
  readonly maxUploadBytes: number;
  /** Maximum total size, in bytes, of the files that an uploaded archive unpacks to. */
  readonly maxUnpackedBytes: number;
  /** Maximum number of entries (files and folders) in an uploaded archive. */
  readonly maxArchiveEntries: number;
  readonly maxRequestBytes: number;
  /** Worker threads that run models. */
  readonly workers: number;
  /** Copies of each loaded version, each on its own worker thread. */
  readonly instances: number;
  /** Threads onnxruntime may use inside one run. */
  readonly intraOpThreads: number;
  readonly memoryBudgetBytes: number;
  readonly loadTimeoutMs: number;
  /** How long a request waits for its version to load before it gets a 503. */
  readonly loadWaitMs: number;
  /** First retry delay after a failed load; it doubles on each failure up to one hour. */
  readonly loadRetryBackoffMs: number;
  /** Unpinned versions unused for this long are unloaded; 0 disables idle unload. */
  readonly idleUnloadMs: number;
  /** Aliases whose versions load at start and stay pinned. */
  readonly preloadAliases: readonly string[];
  readonly usageFlushMs: number;
  /** Length of the sliding window of recent latency percentiles and health rates. */
  readonly statsWindowMs: number;
  /** Violation samples kept per version; 0 keeps none. */
  readonly violationSamples: number;
  /** How often the golden probes of loaded versions run; 0 runs them only after loads. */
  readonly probeIntervalMs: number;
  /** Default share of failed requests in the window above which a version is degraded. */
  readonly healthMaxErrorRate: number;
  /** Default p95 latency in the window above which a version is degraded. */
  readonly healthMaxP95Ms: number;
  /** Default share of invalid responses in the window above which a version is unhealthy. */
  readonly healthMaxInvalidOutputRate: number;
  /** Requests the window must hold before its rates and latency count towards health. */
  readonly healthMinRequests: number;
  readonly drainTimeoutMs: number;
  /** Folder with a manifest.json of example models to register when the registry is empty. */
  readonly seedExamplesDir: string | undefined;
  /** Days without traffic after which a version older than production is reported outdated. */
  readonly reportOutdatedDays: number;
  /** Days without traffic after which a version is reported unused. */
  readonly reportIdleDays: number;
  /** JSON file of retirement rules that gc applies; undefined leaves gc without rules. */
  readonly policyFile: string | undefined;
  /** Share, in percent, of production requests that are also run on the staging version. */
  readonly shadowPercent: number;
  /** Shadow requests that may wait for their run; more are dropped. */
  readonly shadowQueueSize: number;
  /** Bytes of inputs and outputs that waiting shadow requests may hold; more are dropped. */
  readonly shadowQueueBytes: number;
  /** Shadow runs in progress at once. */
  readonly shadowConcurrency: number;
  /** How long a shadow request waits for the staging version to load before it is dropped. */
  readonly shadowLoadWaitMs: number;
  /** Share, in percent, of live production traffic that the staging version serves instead. */
  readonly canaryPercent: number;
  /** Lower-case request header whose value keeps a caller on one version; undefined routes at random. */
  readonly canaryHeader: string | undefined;
  /** Absolute difference up to which two numeric output values count as equal. */
  readonly compareTolerance: number;
  /** Largest disagreements kept per model, with their inputs and both outputs. */
  readonly compareSamples: number;
}

/** One configurable setting: its flag, environment variable, default and parser. */
interface Setting<K extends keyof Config> {
  readonly key: K;
  readonly flag: string;
  readonly env: string;
  readonly help: string;
  readonly parse: (text: string) => Config[K];
  readonly fallback: () => Config[K];
}

function integer(what: string, min: number, max: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`invalid ${what} "${text}": use a whole number from ${min} to ${max}`);
    }
    return value;
  };
}

function fraction(what: string): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) {
      throw new Error(`invalid ${what} "${text}": use a number from 0 to 1, such as 0.05 for 5%`);
    }
    return value;
  };
}

/** Parses a share such as `20`, `20%` or `12.5` into a number of percent from 0 to 100. */
export function parsePercent(text: string, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  const value = match ? Number(match[1]) : Number.NaN;
  if (!(value >= 0 && value <= 100)) {
    throw new Error(
      `invalid ${what} "${text}": use a percentage from 0 to 100, such as 20 or 12.5%`,
    );
  }
  return value;
}

/** HTTP header names are RFC 9110 tokens; Node reports them in lower case. */
export const HEADER_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;

function headerName(text: string): string | undefined {
  if (text === '') return undefined;
  if (!HEADER_NAME_PATTERN.test(text)) {
    throw new Error(
      `invalid canary header "${text}": use an HTTP header name such as x-user-id, or an empty value for none`,
    );
  }
  return text.toLowerCase();
}

function tolerance(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0) {
    throw new Error(`invalid compare tolerance "${text}": use a number of 0 or more, such as 1e-4`);
  }
  return value;
}

function flagBoolean(text: string): boolean {
  return ['1', 'true', 'yes', 'on'].includes(text.toLowerCase());
}

function define<K extends keyof Config>(setting: Setting<K>): Setting<K> {
  return setting;
}

/** Returns a quarter of the machine's memory, leaving room for the process, page cache and other services. */
function defaultMemoryBudget(): number {
  return Math.floor(os.totalmem() / 4);
}

export const SETTINGS = [
  define({
    key: 'host',
    flag: '--host <address>',
    env: 'STEWARD_HOST',
    help: 'address to listen on',
    parse: (text) => text,
    fallback: () => '127.0.0.1',
  }),
  define({
    key: 'port',
    flag: '--port <number>',
    env: 'STEWARD_PORT',
    help: 'TCP port to listen on; 0 picks a free one',
    parse: integer('port', 0, 65535),
    fallback: () => 8080,
  }),
  define({
    key: 'dataDir',
    flag: '--data-dir <path>',
    env: 'STEWARD_DATA_DIR',
    help: 'folder for the registry database and model artifacts',
    parse: (text) => path.resolve(text),
    fallback: () => path.resolve('data'),
  }),
  define({
    key: 'adminToken',
    flag: '--admin-token <token>',
    env: 'STEWARD_ADMIN_TOKEN',
    help: 'bearer token required for management writes (prefer the environment variable)',
    parse: (text) => (text === '' ? undefined : text),
    fallback: () => undefined,
  }),
  define({
    key: 'insecure',
    flag: '--insecure',
    env: 'STEWARD_INSECURE',
    help: 'allow a non-loopback address without an admin token',
    parse: flagBoolean,
    fallback: () => false,
  }),
  define({
    key: 'logLevel',
    flag: '--log-level <level>',
    env: 'STEWARD_LOG_LEVEL',
    help: 'pino log level: trace, debug, info, warn, error, fatal or silent',
    parse: (text) => {
      const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
      if (!levels.includes(text)) {
        throw new Error(`invalid log level "${text}": use one of ${levels.join(', ')}`);
      }
      return text;
    },
    fallback: () => 'info',
  }),
  define({
    key: 'maxUploadBytes',
    flag: '--max-upload-size <bytes>',
    env: 'STEWARD_MAX_UPLOAD_SIZE',
    help: 'largest model file accepted, with units such as 1GiB',
    parse: (text) => parseBytes(text, 'max upload size'),
    fallback: () => 1024 ** 3,
  }),
  define({
    key: 'maxUnpackedBytes',
    flag: '--max-unpacked-size <bytes>',
    env: 'STEWARD_MAX_UNPACKED_SIZE',
    help: 'maximum total size of the files in an uploaded .zip or .tar.gz, such as 4GiB',
    parse: (text) => parseBytes(text, 'max unpacked size'),
    fallback: () => 4 * 1024 ** 3,
  }),
  define({
    key: 'maxArchiveEntries',
    flag: '--max-archive-entries <count>',
    env: 'STEWARD_MAX_ARCHIVE_ENTRIES',
    help: 'maximum number of files and folders in an uploaded .zip or .tar.gz',
    parse: integer('archive entry count', 1, 1_000_000),
    fallback: () => 1000,
  }),
  define({
    key: 'maxRequestBytes',
    flag: '--max-request-size <bytes>',
    env: 'STEWARD_MAX_REQUEST_SIZE',
    help: 'largest inference request body, with units such as 64MiB',
    parse: (text) => parseBytes(text, 'max request size'),
    fallback: () => 64 * 1024 ** 2,
  }),
  define({
    key: 'workers',
    flag: '--workers <count>',
    env: 'STEWARD_WORKERS',
    help: 'worker threads that run models',
    parse: integer('worker count', 1, 256),
    fallback: () => os.availableParallelism(),
  }),
  define({
    key: 'instances',
    flag: '--instances <count>',
    env: 'STEWARD_INSTANCES',
    help: 'copies of each loaded version, each on its own worker thread',
    parse: integer('instance count', 1, 64),
    fallback: () => 1,
  }),
  define({
    key: 'intraOpThreads',
    flag: '--intra-op-threads <count>',
    env: 'STEWARD_INTRA_OP_THREADS',
    help: 'threads onnxruntime uses inside one run',
    parse: integer('intra-op thread count', 1, 256),
    fallback: () => 1,
  }),
  define({
    key: 'memoryBudgetBytes',
    flag: '--memory-budget <bytes>',
    env: 'STEWARD_MEMORY_BUDGET',
    help: 'memory all loaded versions may take together, with units such as 4GiB',
    parse: (text) => {
      const bytes = parseBytes(text, 'memory budget');
      // Every version must fit in the budget to load, so a budget of 0 bytes serves nothing.
      if (bytes < 1) {
        throw new Error(`invalid memory budget "${text}": use more than 0 bytes, such as 4GiB`);
      }
      return bytes;
    },
    fallback: defaultMemoryBudget,
  }),
  define({
    key: 'loadTimeoutMs',
    flag: '--load-timeout <duration>',
    env: 'STEWARD_LOAD_TIMEOUT',
    help: 'maximum time a model load may take before it counts as failed, such as 120s',
    parse: (text) => parseDuration(text, 'load timeout'),
    fallback: () => 120_000,
  }),
  define({
    key: 'loadWaitMs',
    flag: '--load-wait <duration>',
    env: 'STEWARD_LOAD_WAIT',
    help: 'maximum time a request waits for its model to load before a 503, such as 30s',
    parse: (text) => parseDuration(text, 'load wait'),
    fallback: () => 30_000,
  }),
  define({
    key: 'loadRetryBackoffMs',
    flag: '--load-retry-backoff <duration>',
    env: 'STEWARD_LOAD_RETRY_BACKOFF',
    help: 'wait after a failed load before a request may retry it; doubles per failure',
    parse: (text) => parseDuration(text, 'load retry backoff'),
    fallback: () => 30_000,
  }),
  define({
    key: 'idleUnloadMs',
    flag: '--idle-unload <duration>',
    env: 'STEWARD_IDLE_UNLOAD',
    help: 'unload unpinned versions unused for this long, such as 30m; 0 never unloads',
    parse: (text) => parseDuration(text, 'idle unload'),
    fallback: () => 0,
  }),
  define({
    key: 'preloadAliases',
    flag: '--preload <aliases>',
    env: 'STEWARD_PRELOAD',
    help: 'comma-separated aliases whose versions load at start and stay pinned',
    parse: (text) =>
      text
        .split(',')
        .map((alias) => alias.trim())
        .filter((alias) => alias !== ''),
    fallback: () => [],
  }),
  define({
    key: 'usageFlushMs',
    flag: '--usage-flush-interval <duration>',
    env: 'STEWARD_USAGE_FLUSH_INTERVAL',
    help: 'how often usage figures are written to the registry',
    parse: (text) => parseDuration(text, 'usage flush interval'),
    fallback: () => 5_000,
  }),
  define({
    key: 'statsWindowMs',
    flag: '--stats-window <duration>',
    env: 'STEWARD_STATS_WINDOW',
    help: 'sliding window of recent latency percentiles and health rates, such as 5m',
    parse: (text) => {
      const ms = parseDuration(text, 'stats window');
      if (ms < 100) throw new Error(`invalid stats window "${text}": use 100ms or more`);
      return ms;
    },
    fallback: () => 300_000,
  }),
  define({
    key: 'violationSamples',
    flag: '--violation-samples <count>',
    env: 'STEWARD_VIOLATION_SAMPLES',
    help: 'responses that broke an output check to keep per version, with their inputs; 0 keeps none',
    parse: integer('violation sample count', 0, 1000),
    fallback: () => 10,
  }),
  define({
    key: 'probeIntervalMs',
    flag: '--probe-interval <duration>',
    env: 'STEWARD_PROBE_INTERVAL',
    help: 'how often golden probes run on loaded versions, such as 5m; 0 runs them only after loads',
    parse: (text) => parseDuration(text, 'probe interval'),
    fallback: () => 300_000,
  }),
  define({
    key: 'healthMaxErrorRate',
    flag: '--max-error-rate <fraction>',
    env: 'STEWARD_MAX_ERROR_RATE',
    help: 'share of failed requests in the stats window above which a version is degraded',
    parse: fraction('max error rate'),
    fallback: () => 0.05,
  }),
  define({
    key: 'healthMaxP95Ms',
    flag: '--max-p95-latency <duration>',
    env: 'STEWARD_MAX_P95_LATENCY',
    help: 'p95 latency in the stats window above which a version is degraded, such as 500ms',
    parse: (text) => parseDuration(text, 'max p95 latency'),
    fallback: () => 1_000,
  }),
  define({
    key: 'healthMaxInvalidOutputRate',
    flag: '--max-invalid-output-rate <fraction>',
    env: 'STEWARD_MAX_INVALID_OUTPUT_RATE',
    help: 'share of invalid responses in the stats window above which a version is unhealthy',
    parse: fraction('max invalid output rate'),
    fallback: () => 0.01,
  }),
  define({
    key: 'healthMinRequests',
    flag: '--health-min-requests <count>',
    env: 'STEWARD_HEALTH_MIN_REQUESTS',
    help: 'requests the stats window needs before its error rate, latency and invalid outputs count',
    parse: integer('health minimum request count', 1, 1_000_000),
    fallback: () => 10,
  }),
  define({
    key: 'drainTimeoutMs',
    flag: '--drain-timeout <duration>',
    env: 'STEWARD_DRAIN_TIMEOUT',
    help: 'maximum time a shutdown waits for requests in flight',
    parse: (text) => parseDuration(text, 'drain timeout'),
    fallback: () => 30_000,
  }),
  define({
    key: 'seedExamplesDir',
    flag: '--seed-examples <dir>',
    env: 'STEWARD_SEED_EXAMPLES',
    help: 'register the example models in this folder when the registry is empty',
    parse: (text) => (text === '' ? undefined : path.resolve(text)),
    fallback: () => undefined,
  }),
  define({
    key: 'reportOutdatedDays',
    flag: '--report-outdated-days <days>',
    env: 'STEWARD_REPORT_OUTDATED_DAYS',
    help: 'days without traffic after which a version older than production is reported outdated',
    parse: integer('outdated days', 0, 36_500),
    fallback: () => 7,
  }),
  define({
    key: 'reportIdleDays',
    flag: '--report-idle-days <days>',
    env: 'STEWARD_REPORT_IDLE_DAYS',
    help: 'days without traffic after which a version is reported unused',
    parse: integer('idle days', 0, 36_500),
    fallback: () => 30,
  }),
  define({
    key: 'policyFile',
    flag: '--policy <file>',
    env: 'STEWARD_POLICY',
    help: 'JSON file of retirement rules that steward gc applies (see docs/retirement.md)',
    parse: (text) => (text === '' ? undefined : path.resolve(text)),
    fallback: () => undefined,
  }),
  define({
    key: 'shadowPercent',
    flag: '--shadow-percent <percent>',
    env: 'STEWARD_SHADOW_PERCENT',
    help: 'share of production requests also run on the staging version, from 0 to 100',
    parse: (text) => parsePercent(text, 'shadow percent'),
    fallback: () => 100,
  }),
  define({
    key: 'shadowQueueSize',
    flag: '--shadow-queue-size <count>',
    env: 'STEWARD_SHADOW_QUEUE_SIZE',
    help: 'shadow requests that may wait for a run; more are dropped',
    parse: integer('shadow queue size', 1, 1_000_000),
    fallback: () => 256,
  }),
  define({
    key: 'shadowQueueBytes',
    flag: '--shadow-queue-bytes <bytes>',
    env: 'STEWARD_SHADOW_QUEUE_BYTES',
    help: 'tensor bytes that waiting shadow requests may hold, such as 64MiB; more are dropped',
    parse: (text) => parseBytes(text, 'shadow queue bytes'),
    fallback: () => 64 * 1024 ** 2,
  }),
  define({
    key: 'shadowConcurrency',
    flag: '--shadow-concurrency <count>',
    env: 'STEWARD_SHADOW_CONCURRENCY',
    help: 'shadow runs in progress at once',
    parse: integer('shadow concurrency', 1, 256),
    fallback: () => 2,
  }),
  define({
    key: 'shadowLoadWaitMs',
    flag: '--shadow-load-wait <duration>',
    env: 'STEWARD_SHADOW_LOAD_WAIT',
    help: 'maximum time a shadow request waits for the staging version to load, such as 30s',
    parse: (text) => parseDuration(text, 'shadow load wait'),
    fallback: () => 30_000,
  }),
  define({
    key: 'canaryPercent',
    flag: '--canary-percent <percent>',
    env: 'STEWARD_CANARY_PERCENT',
    help: 'share of live production traffic that the staging version serves instead, 0 to 100',
    parse: (text) => parsePercent(text, 'canary percent'),
    fallback: () => 0,
  }),
  define({
    key: 'canaryHeader',
    flag: '--canary-header <name>',
    env: 'STEWARD_CANARY_HEADER',
    help: 'request header whose value keeps one caller on one version, such as x-user-id',
    parse: headerName,
    fallback: () => undefined,
  }),
  define({
    key: 'compareTolerance',
    flag: '--compare-tolerance <number>',
    env: 'STEWARD_COMPARE_TOLERANCE',
    help: 'absolute difference up to which staging and production values count as equal',
    parse: tolerance,
    fallback: () => 1e-4,
  }),
  define({
    key: 'compareSamples',
    flag: '--compare-samples <count>',
    env: 'STEWARD_COMPARE_SAMPLES',
    help: 'largest disagreements kept per model with their inputs and both outputs',
    parse: integer('compare sample count', 0, 1000),
    fallback: () => 20,
  }),
] as const;

export type ConfigOverrides = { -readonly [K in keyof Config]?: Config[K] };

/**
 * Resolves the configuration. Precedence, highest first: explicit overrides (parsed flags),
 * `STEWARD_*` environment variables, the JSON config file, then defaults.
 */
export function resolveConfig(
  overrides: ConfigOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
  configFile?: string,
): Config {
  const fromFile = configFile ? readConfigFile(configFile) : {};
  const resolved: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    const override = overrides[setting.key];
    const envText = env[setting.env];
    const fileValue = fromFile[setting.key];
    if (override !== undefined) {
      resolved[setting.key] = override;
    } else if (envText !== undefined) {
      resolved[setting.key] = setting.parse(envText);
    } else if (fileValue !== undefined) {
      resolved[setting.key] = setting.parse(String(fileValue));
    } else {
      resolved[setting.key] = setting.fallback();
    }
  }
  return Object.freeze(resolved as unknown as Config);
}

function readConfigFile(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new Error(`cannot read config file ${file}: ${reason}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`config file ${file} must contain a JSON object`);
  }
  const known = new Set<string>(SETTINGS.map((setting) => setting.key));
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) {
      throw new Error(`config file ${file} has unknown setting "${key}"`);
    }
  }
  return parsed as Record<string, unknown>;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
