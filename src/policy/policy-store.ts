// The active policy of a running gateway, hot-reloaded. A change in the policies directory (fs.watch,
// debounced: editors write a file in several steps, ConfigMaps swap a symlink) or a SIGHUP runs
// validate ─▶ compile ─▶ swap. The swap is one assignment, so a reader sees the old or the new
// CompiledPolicy, never a mix. A bad edit is rejected: the last good version keeps serving, the errors
// are logged, and policy_reload_failures_total counts it. policy_version_info{version} has exactly one
// series, the active version, at 1.
//
// A missing directory or missing files are an empty policy (see load.ts). A directory created later is
// not watched (fs.watch needs it to exist): send SIGHUP after creating it.
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { CompiledPolicy } from './compile.js';
import { createHotReload, type ReloadOutcome } from './hot-reload.js';
import { loadPolicy } from './load.js';

export type { ReloadOutcome } from './hot-reload.js';

export interface PolicyStoreOptions {
  /** The gateway profile whose overrides apply. */
  profile: string;
  metrics?: Pick<GatewayMetrics, 'policyVersionInfo' | 'policyReloadFailures'>;
  logger: Logger;
  /** Quiet time after the last file event before reloading; 200 ms by default. */
  debounceMs?: number;
}

export interface PolicyStore {
  /** The active compiled policy. Throws before the first good load (start() does it). */
  current(): CompiledPolicy;
  /** Loads the policy (throws, listing every error, if it is invalid: fail fast at start-up), then watches. */
  start(): void;
  /** Stops watching and removes the SIGHUP handler. */
  stop(): void;
  /** Validates and compiles the directory now; swaps on success. */
  reload(): ReloadOutcome;
  /** Called after each swap to a new version; returns the unsubscribe function. */
  onChange(fn: (policy: CompiledPolicy) => void): () => void;
}

export function createPolicyStore(dir: string, options: PolicyStoreOptions): PolicyStore {
  const { profile, metrics } = options;
  const store = createHotReload<CompiledPolicy>({
    what: 'policies',
    dir,
    source: `in ${dir}`,
    logger: options.logger,
    failures: metrics?.policyReloadFailures,
    versionInfo: metrics?.policyVersionInfo,
    ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
    load() {
      const r = loadPolicy(dir, profile);
      return r.ok ? { ok: true, value: r.policy, version: r.policy.version, logFields: { profile, files: r.present } } : r;
    },
  });
  return {
    current() {
      const active = store.active();
      if (!active) throw new Error('policy store: no policy loaded yet (call start())');
      return active;
    },
    start: store.start,
    stop: store.stop,
    reload: store.reload,
    onChange: store.onChange,
  };
}
