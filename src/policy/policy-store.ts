// The active policy of a running gateway, hot-reloaded. A change in the policies directory (fs.watch,
// debounced: editors write a file in several steps, ConfigMaps swap a symlink) or a SIGHUP runs
// validate ─▶ compile ─▶ swap. The swap is one assignment, so a reader sees the old or the new
// CompiledPolicy, never a mix. A bad edit is rejected: the last good version keeps serving, the errors
// are logged, and policy_reload_failures_total counts it. policy_version_info{version} has exactly one
// series, the active version, at 1.
//
// Start-up loads synchronously (nothing is served yet); a reload validates and compiles in a worker
// thread (compile-in-worker.ts), so the gateway keeps serving while thousands of patterns compile.
//
// Fail closed (docs/guides/policy-safety.md): at start-up a missing file is the shipped default (the log says
// which); after that, a missing, empty, truncated or oversized file is refused and the last good
// version stays active. A directory created later is not watched (fs.watch needs it to exist): send
// SIGHUP after creating it.
import type { PolicyLimits } from '../config/sections/policy.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { unsetHashKeys, type CompiledPolicy } from './compile.js';
import { createPolicyCompiler, type PolicyCompiler, type WorkerCompile } from './compile-in-worker.js';
import { createHotReload, type ReloadAudit, type Loaded, type LoadContext, type ReloadOutcome } from './hot-reload.js';
import { loadPolicy, type LoadOptions, type PolicyCompile } from './load.js';

export type { ReloadOutcome } from './hot-reload.js';

export interface PolicyStoreOptions {
  /** The gateway profile whose overrides apply. */
  profile: string;
  metrics?: Pick<GatewayMetrics, 'policyVersionInfo' | 'policyReloadFailures' | 'policyFileRejections' | 'policyCompileSeconds'>;
  logger: Logger;
  /** Version changes and refused loads, for the audit log. */
  audit?: ReloadAudit;
  /** Quiet time after the last file event before reloading; 200 ms by default. */
  debounceMs?: number;
  /** Bounds on the files and their patterns (config `policy`). */
  limits?: PolicyLimits;
  /** Where the shipped defaults are (tests); the package's policies/ by default. */
  defaultsDir?: string;
  /** Compile reloads in a worker thread (default true); false: on the main thread (tests, CLI). */
  worker?: boolean;
  /** Trusted public keys (PEM, config `trust.keys`): unsigned or tampered files are refused (reason `signature`). */
  trustKeys?: readonly string[];
}

export interface PolicyStore {
  /** The active compiled policy. Throws before the first good load (start() does it). */
  current(): CompiledPolicy;
  /** Loads the policy (throws, listing every error, if it is invalid: fail fast at start-up), then watches. */
  start(): void;
  /** Stops watching, removes the SIGHUP handler and cancels a compilation in progress. */
  stop(): void;
  /** Validates and compiles the directory now (in a worker thread); swaps on success. */
  reload(): Promise<ReloadOutcome>;
  /** Called after each swap to a new version; returns the unsubscribe function. */
  onChange(fn: (policy: CompiledPolicy) => void): () => void;
}

export function createPolicyStore(dir: string, options: PolicyStoreOptions): PolicyStore {
  const { profile, metrics } = options;
  // A file missing at start-up is the shipped default, and stays so while it is missing; a file the
  // last good version was loaded from is refused once it goes missing (deleted, directory moved away).
  let present: string[] = [];
  const loadOptions = (ctx: LoadContext): LoadOptions => ({
    missing: 'defaults',
    required: ctx.initial ? [] : present,
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.defaultsDir ? { defaultsDir: options.defaultsDir } : {}),
    ...(options.trustKeys?.length ? { trustKeys: options.trustKeys } : {}),
  });
  const toLoaded = (r: PolicyCompile | WorkerCompile): Loaded<CompiledPolicy> => {
    if (!r.ok) return r;
    present = r.present;
    const unset = unsetHashKeys(r.policy);
    if (unset.length > 0) options.logger.warn({ dir, variables: unset }, `policies: hash actions use keys from ${unset.map((v) => `$${v}`).join(', ')}, not set: those values are masked instead`);
    if (r.defaulted.length > 0) options.logger.warn({ dir, defaults: r.defaulted }, `policies: ${r.defaulted.length} file(s) missing in ${dir}; using the shipped defaults ${r.defaulted.join(', ')}`);
    return { ok: true, value: r.policy, version: r.policy.version, logFields: { profile, files: r.present, defaults: r.defaulted } };
  };
  let compiler: PolicyCompiler | undefined;
  const store = createHotReload<CompiledPolicy>({
    what: 'policies',
    dir,
    source: `in ${dir}`,
    logger: options.logger,
    ...(options.audit ? { audit: options.audit } : {}),
    failures: metrics?.policyReloadFailures,
    rejections: metrics?.policyFileRejections,
    versionInfo: metrics?.policyVersionInfo,
    ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
    load: (ctx) => toLoaded(loadPolicy(dir, profile, loadOptions(ctx))),
    ...(options.worker === false
      ? {}
      : {
          async loadAsync(ctx: LoadContext) {
            const end = metrics?.policyCompileSeconds.startTimer();
            compiler ??= createPolicyCompiler();
            const r = await compiler.compile(dir, profile, loadOptions(ctx));
            end?.({ outcome: r.ok ? 'ok' : r.rejected.length > 0 ? 'rejected' : 'failed' });
            return toLoaded(r);
          },
        }),
  });
  return {
    current() {
      const active = store.active();
      if (!active) throw new Error('policy store: no policy loaded yet (call start())');
      return active;
    },
    start: store.start,
    stop() {
      store.stop();
      compiler?.close();
      compiler = undefined;
    },
    reload: store.reload,
    onChange: store.onChange,
  };
}
