// `stella telemetry policy validate DIR [--profile P]`: checks a policies directory offline with exactly
// the loader the gateway's hot reload uses, and prints the version it would activate and what it does,
// or every error (file:line:column path: reason). Exit 0 valid, 1 invalid, 2 bad command line.
import { join } from 'node:path';
import { PROFILES } from '../../config/types.js';
import { policyFor, type CompiledPolicy, type EffectivePolicy } from '../../policy/compile.js';
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
line, column and path, and exits 1. Missing files (or a missing DIR) are valid: an empty policy, no
tenant bindings (anonymous default tenant only), the default sampling rules.

Options:
  --profile P   apply this gateway profile's overrides (default: default)
  -h, --help    show this help`;

const options = {
  profile: { type: 'string' },
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
    const result = loadPolicy(dir, profile);
    const tenants = loadTenantsFile(join(dir, TENANTS_FILE));
    const sampling = loadSamplingFile(join(dir, SAMPLING_FILE), profile);
    if (!result.ok || !tenants.ok || !sampling.ok) {
      const errors = [result, tenants, sampling].flatMap((r) => (r.ok ? [] : r.errors));
      for (const e of errors) stdio.err(e);
      stdio.err(`INVALID: ${dir} (${errors.length} error${errors.length === 1 ? '' : 's'})`);
      return 1;
    }
    stdio.out(`OK: ${dir} (profile ${profile}) version ${result.policy.version}`);
    if (result.present.length === 0) stdio.out('no policy files: an empty policy (nothing redacted, nothing filtered)');
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
