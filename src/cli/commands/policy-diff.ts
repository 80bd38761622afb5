// `stella telemetry policy diff DIR_A DIR_B [--profile P] [--tenant T]`: what would change if the
// gateway moved from the policies in DIR_A to those in DIR_B (rules added, removed, changed), as one
// line per rule. Exit 0 when the two have the same effect, 1 when they differ or either is invalid,
// 2 for a bad command line.
import { diffPolicies } from '../../policy/diff.js';
import { loadPolicy } from '../../policy/load.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';

const help = `Usage: stella telemetry policy diff DIR_A DIR_B [--profile P] [--tenant T]

Compares the effective policies of two policy directories (for example the live one and an edited
copy) and prints each rule that would change: "+" added, "-" removed, "~" changed (old → new),
tagged with the tenant view it affects. Exits 0 when they have the same effect (same version),
1 when they differ or either directory is invalid.

Options:
  --profile P   compare under this gateway profile's overrides (default: default)
  --tenant T    compare only what tenant T gets
  -h, --help    show this help`;

const options = {
  profile: { type: 'string' },
  tenant: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const policyDiffCommand: Command = {
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options, true);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    if (positionals.length !== 2) throw new UsageError(`expected two policy directories, DIR_A and DIR_B (got ${positionals.length})`);
    const [dirA, dirB] = positionals as [string, string];
    const profile = values.profile ?? 'default';
    const a = loadPolicy(dirA, profile);
    const b = loadPolicy(dirB, profile);
    if (!a.ok || !b.ok) {
      for (const r of [a, b]) if (!r.ok) for (const e of r.errors) stdio.err(e);
      stdio.err(`INVALID: ${[!a.ok ? dirA : undefined, !b.ok ? dirB : undefined].filter(Boolean).join(' and ')}; nothing compared`);
      return 1;
    }
    const lines = diffPolicies(a.policy, b.policy, { tenant: values.tenant });
    if (lines.length === 0) {
      stdio.out(`same effect${values.tenant !== undefined ? ` for tenant ${values.tenant}` : ''} (profile ${profile}): version ${a.policy.version}${a.policy.version === b.policy.version ? '' : ` vs ${b.policy.version}`}`);
      return 0;
    }
    stdio.out(`${dirA} (${a.policy.version.slice(0, 12)}) → ${dirB} (${b.policy.version.slice(0, 12)}), profile ${profile}: ${lines.length} change${lines.length === 1 ? '' : 's'}`);
    for (const l of lines) stdio.out(l);
    return 1;
  },
};
