// What a deploy checks and shows before it writes anything: the source validated for the target
// profile (the config as `serve` loads it, every policy file as the gateway loads it), and the
// differences from what is deployed: files added, removed or changed; settings (which need a restart:
// the gateway reads its config once); policy rules (which hot-reload).
import { join } from 'node:path';
import { loadConfig } from '../config/load.js';
import { DEFAULT_POLICY_LIMITS, type PolicyLimits } from '../config/sections/policy.js';
import { diffSettings, effectiveSettings, formatSettingDiff } from '../config/provenance.js';
import { loadTenantsFile } from '../identify/tenants-file.js';
import { diffPolicies } from '../policy/diff.js';
import { loadPolicy } from '../policy/load.js';
import { TENANTS_FILE } from '../identify/tenants-schema.js';
import { loadSamplingFile } from '../sample/policy-file.js';
import { SAMPLING_FILE } from '../sample/policy-schema.js';
import { sha256Hex } from '../trust/signed-files.js';
import { readFileSync } from 'node:fs';
import { POLICIES_SUBDIR, sourceFiles, type DeploySource } from './deploy-dir.js';

export interface Validation {
  ok: boolean;
  errors: string[];
  /** The profile the source was validated for. */
  profile: string;
}

/** Validates the source's config and policies for `profile` (default: the config's own `profile`). */
export function validateSource(src: DeploySource, profile?: string): Validation {
  const errors: string[] = [];
  let limits: PolicyLimits = DEFAULT_POLICY_LIMITS;
  let effective = profile ?? 'default';
  if (src.configName) {
    // Not signed yet (deploy signs it); the gateway checks the signature where it is deployed.
    const c = loadConfig({ file: join(src.dir, src.configName), ...(profile !== undefined ? { profile } : {}), flags: {}, verifySignature: false });
    if (!c.ok) errors.push(...c.errors);
    else {
      limits = c.config.policy.limits;
      effective = c.config.profile;
    }
  }
  if (src.hasPolicies) {
    const dir = join(src.dir, POLICIES_SUBDIR);
    const p = loadPolicy(dir, effective, { missing: 'defaults', limits });
    const t = loadTenantsFile(join(dir, TENANTS_FILE), undefined, { limits });
    const s = loadSamplingFile(join(dir, SAMPLING_FILE), effective, { limits });
    for (const r of [p, t, s]) if (!r.ok) errors.push(...r.errors);
  }
  return { ok: errors.length === 0, errors, profile: effective };
}

export interface Plan {
  /** `+ path`, `- path`, `~ path` per file. */
  files: string[];
  /** Setting differences (config file: restart needed). */
  settings: string[];
  /** The setting paths that differ (what a restart applies). */
  restartPaths: string[];
  /** Policy rule differences (hot-reloaded). */
  rules: string[];
  changed: boolean;
}

/** What changes from `from` (deployed; absent for a first deploy) to `to`, for `profile`. */
export function planChange(from: DeploySource | undefined, to: DeploySource, profile: string): Plan {
  const digest = (src: DeploySource | undefined): Map<string, string> => {
    const m = new Map<string, string>();
    if (!src) return m;
    for (const f of sourceFiles(src)) m.set(f, sha256Hex(readFileSync(join(src.dir, f))));
    return m;
  };
  const a = digest(from);
  const b = digest(to);
  const files: string[] = [];
  for (const f of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    if (!a.has(f)) files.push(`+ ${f}`);
    else if (!b.has(f)) files.push(`- ${f}`);
    else if (a.get(f) !== b.get(f)) files.push(`~ ${f}`);
  }
  const settings: string[] = [];
  const restartPaths: string[] = [];
  const side = (src: DeploySource | undefined) => effectiveSettings({ ...(src?.configName ? { file: join(src.dir, src.configName) } : {}), profile });
  const sa = side(from);
  const sb = side(to);
  if (sa.ok && sb.ok) {
    for (const d of diffSettings(sa.settings, sb.settings)) {
      settings.push(formatSettingDiff(d));
      restartPaths.push(d.path);
    }
  }
  const rules: string[] = [];
  const policiesOf = (src: DeploySource | undefined) => (src?.hasPolicies ? loadPolicy(join(src.dir, POLICIES_SUBDIR), profile, { missing: 'defaults' }) : undefined);
  const pa = policiesOf(from);
  const pb = policiesOf(to);
  if (pa?.ok && pb?.ok) rules.push(...diffPolicies(pa.policy, pb.policy, {}));
  return { files, settings, restartPaths, rules, changed: files.length > 0 };
}
