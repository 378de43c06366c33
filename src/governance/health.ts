import type { VersionRecord } from '../registry/records.js';
import type { VersionStatus } from '../serving/model-manager.js';
import type { UsageSnapshot } from '../telemetry/usage.js';

export type HealthStatus = 'never used' | 'healthy' | 'failing';

/** Recent requests needed before an error rate can mark a version failing. */
const MIN_RECENT_SAMPLES = 5;
/** Share of model errors among recent requests that marks a version failing. */
const FAILING_ERROR_RATE = 0.5;

/**
 * Computes the health of a version. It is `failing` when its last load failed, or when at least
 * half of its recent requests (5 or more) failed in the model. Otherwise it is `never used`
 * until its first request, then `healthy`.
 */
export function healthOf(
  record: VersionRecord,
  load: VersionStatus,
  usage: UsageSnapshot,
): { status: HealthStatus; reasons: string[] } {
  const reasons: string[] = [];
  if (load.state === 'failed' || record.state === 'failed') {
    reasons.push(`load failed: ${load.reason || record.stateReason}`);
  }
  if (usage.recentSamples >= MIN_RECENT_SAMPLES && usage.recentErrorRate >= FAILING_ERROR_RATE) {
    const percent = Math.round(usage.recentErrorRate * 100);
    reasons.push(`${percent}% of the last ${usage.recentSamples} requests failed in the model`);
  }
  if (reasons.length > 0) return { status: 'failing', reasons };
  if (usage.requests === 0)
    return { status: 'never used', reasons: ['no request has reached this version'] };
  return { status: 'healthy', reasons: [] };
}
