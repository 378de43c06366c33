import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { FAILURE_CAUSES } from './figures.js';
import { BUCKET_COUNT, bucketUpperBound } from './histogram.js';
import { VIOLATION_KINDS } from './output-checks.js';
import type { UsageSnapshot } from './usage.js';

/** Figures of one version that is neither archived nor deleted, as the metrics report them. */
export interface VersionMetrics {
  readonly model: string;
  readonly version: number;
  readonly usage: UsageSnapshot;
  /** Shadow runs on the version as a staging version, counted apart from `usage`. */
  readonly shadowUsage: UsageSnapshot;
  readonly loaded: boolean;
  readonly memoryBytes: number;
  readonly health: string;
  /** Probes that failed in the latest run; null without a run. */
  readonly failingProbes: number | null;
}

/** The figures one scrape reads, gathered once per scrape. */
export interface MetricsSnapshot {
  readonly versions: readonly VersionMetrics[];
  readonly models: number;
  readonly memoryBudgetBytes: number;
  readonly memoryUsedBytes: number;
}

type VersionLabel = 'model' | 'version';

/**
 * Latency buckets of the Prometheus histogram: every fourth bucket of the internal histogram,
 * whose bounds double there, from 0.16 ms to about 168 s. Each cumulative count is exact
 * because the bounds coincide.
 */
const PROMETHEUS_BUCKETS = Array.from({ length: 21 }, (_, step) => 16 + step * 4).filter(
  (index) => index < BUCKET_COUNT,
);

const LATENCY_HELP = 'Latency of successful inference requests since the first request';

type HistogramData = Awaited<ReturnType<Histogram<VersionLabel>['get']>>;

/**
 * A histogram whose buckets come from the stored latency histogram of each version, so its
 * counts survive restarts and agree with the request counters. prom-client's Histogram only
 * counts observations made in this process, so the export is replaced.
 */
class StoredLatencyHistogram extends Histogram<VersionLabel> {
  readonly #read: () => MetricsSnapshot;

  constructor(read: () => MetricsSnapshot, registry: Registry) {
    super({
      name: 'steward_inference_request_duration_seconds',
      help: LATENCY_HELP,
      labelNames: ['model', 'version'],
      registers: [registry],
    });
    this.#read = read;
  }

  override async get(): Promise<HistogramData> {
    return this.getForPromString();
  }

  async getForPromString(): Promise<HistogramData> {
    const values: HistogramData['values'] = [];
    const name = 'steward_inference_request_duration_seconds';
    for (const row of this.#read().versions) {
      const labels = { model: row.model, version: String(row.version) };
      let cumulative = 0;
      let previous = -1;
      for (const index of PROMETHEUS_BUCKETS) {
        for (let bucket = previous + 1; bucket <= index; bucket += 1) {
          cumulative += row.usage.buckets.get(bucket) ?? 0;
        }
        previous = index;
        const le = Number((bucketUpperBound(index) / 1000).toPrecision(8));
        values.push({
          labels: { ...labels, le } as never,
          value: cumulative,
          metricName: `${name}_bucket`,
        });
      }
      const count = row.usage.executionCount;
      values.push({
        labels: { ...labels, le: '+Inf' } as never,
        value: count,
        metricName: `${name}_bucket`,
      });
      values.push({ labels, value: row.usage.latencySumMs / 1000, metricName: `${name}_sum` });
      values.push({ labels, value: count, metricName: `${name}_count` });
    }
    return {
      name,
      help: LATENCY_HELP,
      type: 'histogram' as never,
      values,
      aggregator: 'sum',
      // The values above are computed on each call, so nothing is left to collect.
      collect: () => undefined,
    };
  }
}

/**
 * Prometheus metrics of the fleet, read from the usage tracker and the model manager at each
 * scrape. Only versions that are neither archived nor deleted are labelled, which bounds the
 * number of series by the registered versions.
 */
export class MetricsExporter {
  readonly #registry = new Registry();
  readonly #gather: () => MetricsSnapshot;
  #snapshot: MetricsSnapshot = {
    versions: [],
    models: 0,
    memoryBudgetBytes: 0,
    memoryUsedBytes: 0,
  };

  constructor(gather: () => MetricsSnapshot) {
    this.#gather = gather;
    const read = () => this.#snapshot;
    collectDefaultMetrics({ register: this.#registry, prefix: 'steward_' });
    new StoredLatencyHistogram(read, this.#registry);
    this.#versionCounters(read);
    this.#versionGauges(read);
    this.#serverGauges(read);
  }

  get contentType(): string {
    return this.#registry.contentType;
  }

  /** Renders every metric in the Prometheus text format. */
  async render(): Promise<string> {
    // Every collect callback runs synchronously at the start of metrics(), so they all read
    // this one snapshot even when scrapes overlap.
    this.#snapshot = this.#gather();
    return this.#registry.metrics();
  }

  #versionCounters(read: () => MetricsSnapshot): void {
    const registers = [this.#registry];
    counter(
      registers,
      'steward_inference_requests_total',
      'Inference requests that reached a version, by outcome',
      ['outcome'],
      (row, set) => {
        set({ outcome: 'success' }, row.usage.successes);
        for (const cause of FAILURE_CAUSES) set({ outcome: cause }, row.usage.failures[cause]);
      },
      read,
    );
    counter(
      registers,
      'steward_shadow_requests_total',
      'Shadow runs of production requests on a staging version, by outcome',
      ['outcome'],
      (row, set) => {
        set({ outcome: 'success' }, row.shadowUsage.successes);
        for (const cause of FAILURE_CAUSES) {
          set({ outcome: cause }, row.shadowUsage.failures[cause]);
        }
      },
      read,
    );
    counter(
      registers,
      'steward_inference_request_bytes_total',
      'Request body bytes of inference requests',
      [],
      (row, set) => set({}, row.usage.bytesIn),
      read,
    );
    counter(
      registers,
      'steward_inference_response_bytes_total',
      'Response body bytes of successful inference requests',
      [],
      (row, set) => set({}, row.usage.bytesOut),
      read,
    );
    counter(
      registers,
      'steward_inference_invalid_responses_total',
      'Successful responses with at least one output violation',
      [],
      (row, set) => set({}, row.usage.invalidResponses),
      read,
    );
    counter(
      registers,
      'steward_output_violations_total',
      'Responses with each kind of output violation',
      ['kind'],
      (row, set) => {
        for (const kind of VIOLATION_KINDS) set({ kind }, row.usage.violations[kind] ?? 0);
      },
      read,
    );
  }

  #versionGauges(read: () => MetricsSnapshot): void {
    const registers = [this.#registry];
    gauge(
      registers,
      'steward_inference_requests_in_flight',
      'Inference requests that reached a version and have not finished',
      [],
      (row, set) => set({}, row.usage.inFlight),
      read,
    );
    gauge(
      registers,
      'steward_version_loaded',
      '1 while a version is loaded, else 0',
      [],
      (row, set) => set({}, row.loaded ? 1 : 0),
      read,
    );
    gauge(
      registers,
      'steward_version_memory_bytes',
      'Measured memory of a loaded version',
      [],
      (row, set) => set({}, row.memoryBytes),
      read,
    );
    gauge(
      registers,
      'steward_version_health',
      'Health of a version: 1 for its current status',
      ['status'],
      (row, set) => set({ status: row.health }, 1),
      read,
    );
    gauge(
      registers,
      'steward_version_last_used_timestamp_seconds',
      'Time of the last request of a version, for versions used at least once',
      [],
      (row, set) => {
        if (row.usage.lastUsedAt) set({}, Date.parse(row.usage.lastUsedAt) / 1000);
      },
      read,
    );
    gauge(
      registers,
      'steward_version_failing_probes',
      'Golden probes that failed in the latest run, for versions with a run',
      [],
      (row, set) => {
        if (row.failingProbes !== null) set({}, row.failingProbes);
      },
      read,
    );
  }

  #serverGauges(read: () => MetricsSnapshot): void {
    const registers = [this.#registry];
    const single = (name: string, help: string, value: (snapshot: MetricsSnapshot) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value(read()));
        },
      });
    single('steward_models', 'Registered models', (snapshot) => snapshot.models);
    single(
      'steward_versions',
      'Registered versions that are not archived',
      (snapshot) => snapshot.versions.length,
    );
    single(
      'steward_memory_budget_bytes',
      'Memory all loaded versions may take together',
      (snapshot) => snapshot.memoryBudgetBytes,
    );
    single(
      'steward_memory_used_bytes',
      'Measured memory of the loaded versions and of a load in progress',
      (snapshot) => snapshot.memoryUsedBytes,
    );
  }
}

type Setter<L extends string> = (labels: Partial<Record<L, string>>, value: number) => void;

/** Registers a counter that is reset and set from every version's totals at each scrape. */
function counter<L extends string>(
  registers: Registry[],
  name: string,
  help: string,
  extraLabels: L[],
  fill: (row: VersionMetrics, set: Setter<L>) => void,
  read: () => MetricsSnapshot,
): void {
  new Counter<VersionLabel | L>({
    name,
    help,
    labelNames: ['model', 'version', ...extraLabels],
    registers,
    collect() {
      this.reset();
      for (const row of read().versions) {
        const base = { model: row.model, version: String(row.version) };
        fill(row, (labels, value) => this.inc({ ...base, ...labels } as never, value));
      }
    },
  });
}

/** Registers a gauge that is reset and set from every version's figures at each scrape. */
function gauge<L extends string>(
  registers: Registry[],
  name: string,
  help: string,
  extraLabels: L[],
  fill: (row: VersionMetrics, set: Setter<L>) => void,
  read: () => MetricsSnapshot,
): void {
  new Gauge<VersionLabel | L>({
    name,
    help,
    labelNames: ['model', 'version', ...extraLabels],
    registers,
    collect() {
      this.reset();
      for (const row of read().versions) {
        const base = { model: row.model, version: String(row.version) };
        fill(row, (labels, value) => this.set({ ...base, ...labels } as never, value));
      }
    },
  });
}
