// Profiles: named overlays applied over the config file before the command-line flags
// (file ◀ profile ◀ flags). Overlays are partial configs in the YAML shape (the keys users write),
// so they are validated with everything else and their errors name the same paths.
//
// Built-in profiles (small on purpose; later features add to them):
// - `default`: no change.
// - `forensic`: lose less when a backend is slow or down: every exporter (unless its own entry says
//   otherwise) queues up to 512MiB in memory, keeps its queue on disk (`queue.persistent`: a request is
//   acknowledged once on disk, replayed after a crash) and keeps retrying a batch for up to 1h; shutdown waits up to 60s
//   for the queues to drain; the forensic tee archives every tenant all the time (`forensic.mode: always`);
//   an incident that ends is captured as signed bundles (`incidents.captureOnEnd.enabled`).
// - `airgap`: no network egress: exporters must be `file://` (the default file exporter qualifies).
//   A site that does want one network exporter in airgap says so explicitly, in the file:
//   `profiles: { airgap: { allowNetworkExporters: true } }`, and lists its destination under `egress.allow`
//   (sealed mode: every outbound destination must be on that list, src/egress/egress.ts). Archived segments get the `airgap`
//   retention tier (kept longest: the archive may be the only copy an air-gapped site has).
//
// A config file can extend a built-in profile under `profiles.<name>`; that overlay is merged over the
// built-in one. Merging is deep for mappings; lists (such as `exporters`) and scalars replace; a null
// value resets the key to its default.
import type { ProfileName } from './types.js';

export type RawConfig = Record<string, unknown>;

export const BUILTIN_PROFILES: Readonly<Record<ProfileName, RawConfig>> = {
  default: {},
  forensic: {
    exporterDefaults: { queue: { maxBytes: '512MiB', persistent: true }, retry: { maxElapsed: '1h' } },
    shutdownTimeout: '60s',
    forensic: { mode: 'always' },
    // An incident that ends leaves a signed bundle of its window (src/incident/capture-on-end.ts).
    incidents: { captureOnEnd: { enabled: true } },
  },
  airgap: { allowNetworkExporters: false, forensic: { tier: 'airgap' } },
};

export function isPlainObject(value: unknown): value is RawConfig {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `overlay` over `base`: mappings merge key by key, anything else (lists included) replaces. Inputs are not modified. */
export function deepMerge(base: unknown, overlay: unknown): unknown {
  if (overlay === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(overlay)) return overlay;
  const out: RawConfig = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    // defineProperty, not assignment: a YAML key "__proto__" stays a plain (and later rejected) key.
    Object.defineProperty(out, key, { value: deepMerge(Object.hasOwn(base, key) ? base[key] : undefined, value), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** The overlay for `name`: the built-in one with the file's `profiles.<name>` (if any) merged over it. */
export function profileOverlay(name: ProfileName, fileOverlay?: RawConfig): RawConfig {
  return deepMerge(BUILTIN_PROFILES[name], fileOverlay ?? {}) as RawConfig;
}
