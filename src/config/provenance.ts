// The effective configuration as a flat list of settings (`exporters[tempo].queue.persistent`), each
// with its value and where it came from, and the differences between two such lists: what
// `stella telemetry profile diff` and `deploy` print.
//
// Where a value came from is found by building the configuration layer by layer, in the order the
// gateway applies them (load.ts, validate.ts):
//   built-in default ◀ file ◀ profile overlay (built-in) ◀ profile overlay (the file's profiles.<name>) ◀ flags
// A setting's source is the last layer that changed its effective value. Comparing effective values
// (not the keys written) keeps the attribution right where one key drives several settings, such as
// `exporterDefaults` under every exporter, and says "built-in default" for a value written to equal it.
// A layer that is not valid on its own (say a file that needs its profile overlay) is skipped: what it
// set is attributed to the next layer.
import { isPlainObject, type RawConfig } from './profiles.js';
import { loadConfig, readConfigFile, serveFlagOverrides, type ServeFlags } from './load.js';
import { redactSecrets } from './secrets.js';
import type { GatewayConfig, HostPort } from './types.js';
import { formatHostPort, validateConfig } from './validate.js';

/** One side of a comparison: a config file (optional), a profile (optional: the file's own), flags. */
export interface ConfigSide {
  file?: string;
  profile?: string;
  flags?: ServeFlags;
}

export interface Setting {
  /** JSON-ish text of the value, secrets masked: what is shown. */
  value: string;
  /** The same unmasked: what is compared (two different secrets both show as [redacted]). Never printed. */
  raw: string;
  /** "built-in default", "file stella.yaml", "built-in profile forensic", "stella.yaml profiles.forensic", "flag". */
  source: string;
}

export type EffectiveSettings = { ok: true; profile: string; settings: Map<string, Setting>; config: GatewayConfig } | { ok: false; errors: string[] };

const isHostPort = (v: unknown): v is HostPort => isPlainObject(v) && Object.keys(v).length === 2 && typeof v.host === 'string' && typeof v.port === 'number';

/** `config` as leaf path ─▶ value text. Lists of named entries are keyed by name, others by index. */
export function flattenConfig(config: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (path: string, v: unknown): void => {
    if (isHostPort(v)) out.set(path, formatHostPort(v));
    else if (Array.isArray(v)) {
      if (v.every((x) => isPlainObject(x) && typeof x.name === 'string')) {
        for (const x of v as RawConfig[]) walk(`${path}[${x.name as string}]`, x);
        if (v.length === 0) out.set(path, '[]');
      } else out.set(path, JSON.stringify(v));
    } else if (isPlainObject(v)) {
      const keys = Object.keys(v);
      if (keys.length === 0) out.set(path, '{}');
      for (const k of keys.sort()) walk(path ? `${path}.${k}` : k, v[k]);
    } else if (v !== undefined) out.set(path, typeof v === 'string' ? JSON.stringify(v) : String(v));
  };
  walk('', config);
  return out;
}

/** The effective settings of one side, each with its source. Errors: the side's config is invalid. */
export function effectiveSettings(side: ConfigSide): EffectiveSettings {
  // The full load first, exactly as serve does it (every error reported); the layers only attribute.
  const full = loadConfig({ ...(side.file !== undefined ? { file: side.file } : {}), ...(side.profile !== undefined ? { profile: side.profile } : {}), flags: side.flags ?? {}, verifySignature: false });
  if (!full.ok) return full;
  const profile = full.config.profile;
  let raw: RawConfig = {};
  if (side.file !== undefined) {
    const read = readConfigFile(side.file);
    if ('errors' in read) return { ok: false, errors: read.errors };
    raw = isPlainObject(read.raw) ? read.raw : {};
  }
  const withoutProfiles: RawConfig = { ...raw };
  delete withoutProfiles.profiles;
  const errors: string[] = [];
  const overrides = serveFlagOverrides(side.flags ?? {}, errors, raw);
  const fileName = side.file ?? '';
  // Paths as written (validate.ts), in every layer alike: load.ts resolves them only afterwards.
  const layers: { source: string; result: () => ReturnType<typeof validateConfig> }[] = [
    { source: 'built-in default', result: () => validateConfig({}, undefined, { profile: 'default' }) },
    ...(side.file !== undefined ? [{ source: `file ${fileName}`, result: () => validateConfig(withoutProfiles, undefined, { profile: 'default' }) }] : []),
    { source: `built-in profile ${profile}`, result: () => validateConfig(withoutProfiles, undefined, { profile }) },
    ...(isPlainObject(raw.profiles) && raw.profiles[profile] !== undefined && raw.profiles[profile] !== null
      ? [{ source: `${fileName} profiles.${profile}`, result: () => validateConfig(raw, undefined, { profile }) }]
      : []),
    { source: 'flag', result: () => validateConfig(raw, undefined, { profile, overrides }) },
  ];
  const flat: { source: string; values: Map<string, string> }[] = [];
  for (const l of layers) {
    const r = l.result();
    if (r.ok) flat.push({ source: l.source, values: flattenConfig(r.config) });
  }
  const last = flat[flat.length - 1];
  if (!last || last.source !== 'flag' || errors.length > 0) return { ok: false, errors: errors.length > 0 ? errors : ['the configuration does not validate layer by layer'] };
  const settings = new Map<string, Setting>();
  for (const [path, value] of last.values) {
    // Absent from the defaults (an exporter the file adds): from the first layer that has it.
    let source = flat.find((l) => l.values.has(path))!.source;
    for (let i = 1; i < flat.length; i++) {
      if (flat[i - 1]!.values.has(path) && flat[i]!.values.get(path) !== flat[i - 1]!.values.get(path)) source = flat[i]!.source;
    }
    settings.set(path, { value: redactSecrets(value), raw: value, source });
  }
  return { ok: true, profile, settings, config: full.config };
}

export interface SettingDiff {
  path: string;
  a?: Setting;
  b?: Setting;
}

/** Settings whose values differ (or exist on one side only), sorted by path. */
export function diffSettings(a: Map<string, Setting>, b: Map<string, Setting>): SettingDiff[] {
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  const out: SettingDiff[] = [];
  for (const path of paths) {
    const x = a.get(path);
    const y = b.get(path);
    if (x?.raw === y?.raw) continue;
    out.push({ path, ...(x && { a: x }), ...(y && { b: y }) });
  }
  return out;
}

/** `PATH: A (source) → B (source)` */
export function formatSettingDiff(d: SettingDiff): string {
  const side = (s: Setting | undefined): string => (s ? `${s.value} (${s.source})` : '(not set)');
  return `~ ${d.path}: ${side(d.a)} → ${side(d.b)}`;
}
