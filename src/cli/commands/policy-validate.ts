// `stella telemetry policy validate DIR [--profile P]`: checks a policies directory offline with exactly
// the loader the gateway's hot reload uses, and prints the version it would activate and what it does,
// or every error (file:line:column path: reason). Exit 0 valid, 1 invalid, 2 bad command line.
import { basename, join } from 'node:path';
import { loadConfig } from '../../config/load.js';
import { DEFAULT_POLICY_LIMITS, type PolicyLimits } from '../../config/sections/policy.js';
import { PROFILES } from '../../config/types.js';
import { policyFor, unsetHashKeys, type CompiledPolicy, type EffectivePolicy } from '../../policy/compile.js';
import { describeAction } from '../../policy/diff.js';
import { loadPolicy } from '../../policy/load.js';
import { loadTenantsFile } from '../../identify/tenants-file.js';
import { TENANTS_FILE } from '../../identify/tenants-schema.js';
import { loadSamplingFile } from '../../sample/policy-file.js';
import { SAMPLING_FILE } from '../../sample/policy-schema.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';

const help = `Usage: stella telemetry policy validate DIR [--profile P]

Checks the policy files of DIR (redaction.yaml, allowlists.yaml, tenants.yaml, sampling.yaml) without
starting anything, with the loaders the gateway's hot reload uses: schema, unknown keys, actions, and
custom patterns (rejected when they could backtrack catastrophically). Prints the policy version the
gateway would activate and a summary, and exits 0; or prints every error of every file with file,
line, column and path, and exits 1.

Fail closed (docs/guides/policy-safety.md): every file must end with "version: 1" (an empty or truncated
file is an error), files and custom patterns must stay within the policy.* limits (the defaults, or
those of --config). A missing file (or DIR) is a warning: at start-up the gateway uses the shipped
default of that file, and on a reload it refuses the change and keeps the last good version.
Warnings also name hash actions whose key variable is unset here (they fall back to mask).

Options:
  --profile P   apply this gateway profile's overrides (default: default)
  --config F    take the limits (policy.maxFileBytes, ...) from this gateway config
  -h, --help    show this help`;

const options = {
  profile: { type: 'string' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const policyValidateCommand: Command = {
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options, true);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(positionals.length === 0 ? 'expected the policies DIR to validate' : `expected one DIR (got ${positionals.length})`);
    }
    const dir = positionals[0]!;
    const profile = values.profile ?? 'default';
    let limits: PolicyLimits = DEFAULT_POLICY_LIMITS;
    if (values.config !== undefined) {
      const config = loadConfig({ file: values.config, flags: {} });
      if (!config.ok) {
        for (const e of config.errors) stdio.err(e);
        stdio.err(`INVALID: ${values.config} (the config whose limits apply)`);
        return 1;
      }
      limits = config.config.policy.limits;
    }
    const result = loadPolicy(dir, profile, { missing: 'defaults', limits });
    const tenants = loadTenantsFile(join(dir, TENANTS_FILE), undefined, { limits });
    const sampling = loadSamplingFile(join(dir, SAMPLING_FILE), profile, { limits });
    if (!result.ok || !tenants.ok || !sampling.ok) {
      const errors = [result, tenants, sampling].flatMap((r) => (r.ok ? [] : r.errors));
      for (const e of errors) stdio.err(e);
      stdio.err(`INVALID: ${dir} (${errors.length} error${errors.length === 1 ? '' : 's'})`);
      return 1;
    }
    stdio.out(`OK: ${dir} (profile ${profile}) version ${result.policy.version}`);
    for (const w of policyWarnings(dir, result.defaulted, tenants.present, sampling.present, result.policy)) stdio.err(`warning: ${w}`);
    const known = new Set([...Object.keys(result.files.redaction.profiles), ...Object.keys(result.files.allowlists.profiles)]);
    if (values.profile !== undefined && !known.has(profile)) stdio.out(`note: no overrides for profile "${profile}"; the top-level rules apply`);
    for (const p of known) {
      if (!(PROFILES as readonly string[]).includes(p)) stdio.out(`note: profile "${p}" is not a gateway profile (${PROFILES.join(', ')}); its overrides never apply`);
    }
    for (const line of summarisePolicy(result.policy)) stdio.out(line);
    const t = tenants.bindings;
    stdio.out(
      tenants.present
        ? `${TENANTS_FILE}: version ${t.version}, ${t.identityCount} identit${t.identityCount === 1 ? 'y' : 'ies'}`
        : `${TENANTS_FILE}: absent (no bindings: only the anonymous default tenant, where tenancy.anonymous allows it)`,
    );
    stdio.out(`${SAMPLING_FILE}: ${sampling.present ? '' : 'absent, the default rules; '}version ${sampling.policy.version}`);
    return 0;
  },
};

const MISSING = 'at start-up the gateway uses the shipped default; on a reload it refuses the change and keeps the last good version';

/** What is valid but probably not meant: missing files, hash actions without their key. */
export function policyWarnings(dir: string, defaulted: string[], tenantsPresent: boolean, samplingPresent: boolean, policy: CompiledPolicy, env: NodeJS.ProcessEnv = process.env): string[] {
  const out = defaulted.map((f) => `${join(dir, basename(f))}: missing: ${MISSING} (${f})`);
  if (!tenantsPresent) out.push(`${join(dir, TENANTS_FILE)}: missing: at start-up no bindings (only the anonymous default tenant, where tenancy.anonymous allows it); on a reload it is refused`);
  if (!samplingPresent) out.push(`${join(dir, SAMPLING_FILE)}: missing: at start-up the default sampling rules; on a reload it is refused`);
  for (const name of unsetHashKeys(policy, env)) out.push(`hash actions use the key in $${name}, which is not set here: without it the gateway masks instead of hashing`);
  return out;
}

function summariseView(p: EffectivePolicy, indent: string): string[] {
  const r = p.redaction;
  const lines = [
    `${indent}keys: ${r.keyMode} mode, ${r.blockedKeys.length} blocked pattern${r.blockedKeys.length === 1 ? '' : 's'}`,
    `${indent}detectors (${r.detectors.length}): ${r.detectors.map((d) => `${d.category}=${describeAction(d.action)}`).join(', ') || 'none'}`,
    `${indent}custom patterns (${r.custom.length}): ${r.custom.map((c) => `${c.name}=${describeAction(c.action)}`).join(', ') || 'none'}`,
  ];
  if (r.summaryAttribute) lines.push(`${indent}summary attribute: ${r.summaryAttribute}`);
  const list = (l: string[] | null) => (l === null ? 'any' : `${l.length} allowed`);
  const a = p.allowlists;
  lines.push(
    `${indent}allowlists: metric names ${list(a.metricNames)}; attribute keys traces ${list(a.attributeKeys.traces)}, metrics ${list(a.attributeKeys.metrics)}, logs ${list(a.attributeKeys.logs)}; service names ${list(a.serviceNames)}`,
  );
  return lines;
}

/** A few lines that show what the policy amounts to for the default view and each tenant. */
export function summarisePolicy(policy: CompiledPolicy): string[] {
  const lines = ['all tenants:', ...summariseView(policy.defaults, '  ')];
  for (const t of Object.keys(policy.tenants).sort()) lines.push(`tenant ${t}:`, ...summariseView(policyFor(policy, t), '  '));
  return lines;
}
