// `stella telemetry profile diff A B [--config FILE]` and `profile diff --config F1 --config F2 [A [B]]`:
// the effective configuration of two profiles (or two config files) side by side, one line per setting
// that differs, with both values and where each came from (src/config/provenance.ts). Secrets are
// masked. Exit 0 when equal, 1 when they differ (as `policy diff`), 2 on a bad command line or config.
import { PROFILES } from '../../config/types.js';
import { diffSettings, effectiveSettings, formatSettingDiff, type ConfigSide } from '../../config/provenance.js';
import type { ServeFlags } from '../../config/load.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';

const help = `Usage: stella telemetry profile diff A B [--config FILE]
       stella telemetry profile diff --config FILE_A --config FILE_B [A [B]]

Prints the effective settings that differ between profile A and profile B (of the same config file,
or of the built-in defaults without one), or between two config files (each under its own "profile"
key, or the profiles given), one line per setting:
  ~ PATH: VALUE_A (source) → VALUE_B (source)
where source is where the value came from: built-in default, file F, built-in profile P,
F profiles.P (the file's overlay), or flag. Secrets (exporter credentials, \${env:…}/\${file:…} values) are
shown as [redacted]. Exits 0 when the two are the same, 1 when they differ, 2 on an error.

Options:
  --config FILE      a config file; give it twice to compare two files
  --data-dir DIR, --policies DIR, --export URL, --log-level L, --workers N
                     serve flags, applied to both sides (shown as source "flag")
  -h, --help         show this help

Profiles: ${PROFILES.join(', ')}`;

const options = {
  config: { type: 'string', multiple: true },
  'data-dir': { type: 'string' },
  policies: { type: 'string' },
  export: { type: 'string', multiple: true },
  'log-level': { type: 'string' },
  workers: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const profileDiffCommand: Command = {
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options, true);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    const configs = values.config ?? [];
    if (configs.length > 2) throw new UsageError(`--config: at most two files (got ${configs.length})`);
    if (positionals.length > 2) throw new UsageError(`expected at most two profiles (got ${positionals.length})`);
    if (configs.length < 2 && positionals.length < 2) {
      throw new UsageError('expected two profiles (profile diff A B [--config FILE]) or two config files (--config FILE_A --config FILE_B)');
    }
    for (const p of positionals) {
      if (!(PROFILES as readonly string[]).includes(p)) throw new UsageError(`unknown profile "${p}" (expected one of ${PROFILES.join(', ')})`);
    }
    const flags: ServeFlags = {
      ...(values['data-dir'] !== undefined && { dataDir: values['data-dir'] }),
      ...(values.policies !== undefined && { policies: values.policies }),
      ...(values.export !== undefined && { export: values.export }),
      ...(values['log-level'] !== undefined && { logLevel: values['log-level'] }),
      ...(values.workers !== undefined && { workers: values.workers }),
    };
    const sideOf = (i: 0 | 1): ConfigSide => {
      const file = configs[i] ?? configs[0];
      const profile = positionals[i] ?? positionals[0];
      return { ...(file !== undefined && { file }), ...(profile !== undefined && { profile }), flags };
    };
    const [a, b] = [sideOf(0), sideOf(1)];
    const ea = effectiveSettings(a);
    const eb = effectiveSettings(b);
    if (!ea.ok || !eb.ok) {
      const errors = new Set([ea, eb].flatMap((r) => (r.ok ? [] : r.errors)));
      for (const e of errors) stdio.err(`stella telemetry profile diff: ${e}`);
      return 2;
    }
    const name = (side: ConfigSide, profile: string): string => `${profile}${side.file !== undefined ? ` (${side.file})` : ''}`;
    const lines = diffSettings(ea.settings, eb.settings);
    if (lines.length === 0) {
      stdio.out(`same effective configuration: ${name(a, ea.profile)} and ${name(b, eb.profile)}`);
      return 0;
    }
    stdio.out(`${name(a, ea.profile)} → ${name(b, eb.profile)}: ${lines.length} setting${lines.length === 1 ? '' : 's'} differ${lines.length === 1 ? 's' : ''}`);
    for (const d of lines) stdio.out(formatSettingDiff(d));
    return 1;
  },
};
