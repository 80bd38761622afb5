// The `sampling` section of the config file: shape, defaults and validation (called by ../validate.ts).
// The policies themselves (which traces to keep) live in the hot-reloaded policies/sampling.yaml
// (src/sample/policy-*.ts); this section holds what needs a restart: whether traces go through the tail
// sampler at all, how long it waits for a trace, and its memory bounds.
//
//   sampling:
//     enabled: true            # off by default: every span is forwarded (see README "Tail sampling")
//     decisionWait: 10s        # decide this long after a trace's first span arrived …
//     rootGrace: 2s            # … or this long after its root span arrived, if that is sooner
//     maxTraces: 100000        # traces buffered at once; beyond it the oldest are decided early
//     maxBytes: 256MiB         # bytes buffered at once; beyond it the oldest are decided early
//     decisionCache: 200000    # decided trace ids remembered, so late spans follow the decision
//     policyFile: policies/sampling.yaml   # unset = <policiesDir>/sampling.yaml
import type { RawConfig } from '../profiles.js';
import type { Reader } from '../validate.js';

export interface SamplingConfig {
  /** Traces go through the tail sampler (false: every span is forwarded, as without sampling). */
  enabled: boolean;
  /** A trace is decided this long after its first span arrived. */
  decisionWaitMs: number;
  /** … or this long after its root span (no parent) arrived, when that is sooner. */
  rootGraceMs: number;
  /** Traces buffered at once; when full, the oldest are decided early (by the policies). */
  maxTraces: number;
  /** Span bytes buffered at once; when full, the oldest traces are decided early. */
  maxBytes: number;
  /** Decisions remembered (LRU) so that spans arriving after the decision follow it. */
  decisionCacheSize: number;
  /** The policy file; unset = `${policiesDir}/sampling.yaml`. */
  policyFile?: string;
}

const MiB = 1024 * 1024;

export const DEFAULT_SAMPLING: SamplingConfig = {
  enabled: false,
  decisionWaitMs: 10_000,
  rootGraceMs: 2_000,
  maxTraces: 100_000,
  maxBytes: 256 * MiB,
  decisionCacheSize: 200_000,
};

const KEYS = ['enabled', 'decisionWait', 'rootGrace', 'maxTraces', 'maxBytes', 'decisionCache', 'policyFile'] as const;

export function readSampling(r: Reader, value: unknown): SamplingConfig {
  const s: RawConfig = r.section('sampling', value, KEYS);
  const d = DEFAULT_SAMPLING;
  const out: SamplingConfig = {
    enabled: r.bool('sampling.enabled', s.enabled, d.enabled),
    decisionWaitMs: r.duration('sampling.decisionWait', s.decisionWait, d.decisionWaitMs, 1),
    rootGraceMs: r.duration('sampling.rootGrace', s.rootGrace, d.rootGraceMs, 0),
    maxTraces: r.int('sampling.maxTraces', s.maxTraces, d.maxTraces, 1, 100_000_000),
    maxBytes: r.size('sampling.maxBytes', s.maxBytes, d.maxBytes, 64 * 1024),
    decisionCacheSize: r.int('sampling.decisionCache', s.decisionCache, d.decisionCacheSize, 0, 100_000_000),
  };
  if (out.decisionWaitMs > 3_600_000) r.fail('sampling.decisionWait', `must be at most 1h (got ${JSON.stringify(s.decisionWait)})`);
  if (out.rootGraceMs > out.decisionWaitMs && s.rootGrace !== undefined && s.rootGrace !== null) {
    r.fail('sampling.rootGrace', `must not exceed sampling.decisionWait (got ${JSON.stringify(s.rootGrace)})`);
  }
  const policyFile = r.string('sampling.policyFile', s.policyFile, '');
  if (policyFile !== '') out.policyFile = policyFile;
  return out;
}
