// The active sampling policy of a running gateway, hot-reloaded like the other policy files
// (src/policy/policy-store.ts): a change of sampling.yaml (fs.watch on its directory, debounced: editors
// write in steps, Kubernetes swaps a symlink) or a SIGHUP runs load ─▶ validate ─▶ compile ─▶ swap. The
// swap is one assignment: a decision sees the old or the new policy, never a mix. A bad edit is
// rejected: the last good version keeps deciding, the errors are logged and
// sampling_policy_reload_failures_total counts it; sampling_policy_version_info{version} shows the
// active version.
import { basename, dirname } from 'node:path';
import type { PolicyLimits } from '../config/sections/policy.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { createHotReload, type ReloadAudit, type ReloadOutcome } from '../policy/hot-reload.js';
import type { CompiledSampling } from './policy.js';
import { loadSamplingFile } from './policy-file.js';

export type SamplingReload = ReloadOutcome;

export interface SamplingPolicyStoreOptions {
  /** The gateway profile whose `profiles.<name>` overrides apply. */
  profile: string;
  logger: Logger;
  /** Version changes and refused loads, for the audit log. */
  audit?: ReloadAudit;
  metrics?: Pick<GatewayMetrics, 'samplingPolicyReloadFailures' | 'policyFileRejections' | 'samplingPolicyVersionInfo'>;
  /** Quiet time after the last file event before reloading; 200 ms by default. */
  debounceMs?: number;
  /** Bounds on the file (config `policy`). */
  limits?: PolicyLimits;
  /** Trusted public keys (PEM, config `trust.keys`): an unsigned or tampered file is refused (reason `signature`). */
  trustKeys?: readonly string[];
}

export interface SamplingPolicyStore {
  /** The active policy. Throws before the first good load (start() does it). */
  current(): CompiledSampling;
  /** Loads the file (throws, listing every error, if it is invalid: fail fast at start-up), then watches. */
  start(): void;
  stop(): void;
  /** Loads the file now; swaps on success. */
  reload(): Promise<SamplingReload>;
}

export function createSamplingPolicyStore(file: string, options: SamplingPolicyStoreOptions): SamplingPolicyStore {
  const { metrics, profile } = options;
  // Missing at start-up: the defaults, while it stays missing; missing after a good load of it: refused.
  let present = false;
  const store = createHotReload<CompiledSampling>({
    what: 'sampling policy',
    dir: dirname(file),
    // Only this file's events: the other policy files live in the same directory.
    fileName: basename(file),
    source: file,
    logger: options.logger,
    ...(options.audit ? { audit: options.audit } : {}),
    failures: metrics?.samplingPolicyReloadFailures,
    rejections: metrics?.policyFileRejections,
    versionInfo: metrics?.samplingPolicyVersionInfo,
    ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
    load(ctx) {
      const r = loadSamplingFile(file, profile, { missing: !ctx.initial && present ? 'refuse' : 'defaults', ...(options.limits ? { limits: options.limits } : {}), ...(options.trustKeys?.length ? { trustKeys: options.trustKeys } : {}) });
      if (!r.ok) return r;
      present = r.present;
      return { ok: true, value: r.policy, version: r.policy.version, logFields: { file, profile, present: r.present } };
    },
  });
  return {
    current() {
      const active = store.active();
      if (!active) throw new Error('sampling policy store: no policy loaded yet (call start())');
      return active;
    },
    start: store.start,
    stop: store.stop,
    reload: store.reload,
  };
}
