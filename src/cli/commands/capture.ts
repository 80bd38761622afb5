// `stella telemetry capture --tenant T [--from ISO] [--to ISO] [--signal …] --out FILE.tar [--key KEY]`:
// cuts a tenant's window out of the forensic archive into a signed bundle (src/tee/capture.ts).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Signer, Witness } from '@sigstore/sign';
import { SIGNALS, type Signal } from '../../signals.js';
import { captureWindow } from '../../tee/capture.js';
import { createKeylessSigning, createKeySigner } from '../../tee/sign.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';
import { DEFAULT_KEYS_DIR, PRIVATE_KEY_FILE } from './keys-init.js';

const DEFAULT_WINDOW_MS = 3_600_000;

const help = `Usage: stella telemetry capture --tenant T --out FILE.tar [--from ISO] [--to ISO]
                                 [--signal traces,logs,metrics] [--key KEY] [--data-dir DIR] [--profile P]

Builds a signed forensic bundle of tenant T's archived telemetry received in [from, to): a tar holding
manifest.json (canonical JSON: every chunk's SHA-256, size, record counts, times, tiers, policy
versions, and the windows the tee shed), manifest.sigstore.json (a Sigstore bundle signing the
manifest) and chunks/. The same window captured twice gives a byte-identical file. Also writes a hold
(DIR/forensic/holds/) so retention keeps the window's segments for 7 days.

Options:
  --tenant T      the tenant to capture (required)
  --from ISO      window start, inclusive (default: one hour before --to)
  --to ISO        window end, exclusive (default: now)
  --signal LIST   comma-separated signals (default: traces,metrics,logs)
  --out FILE      the bundle to write (required)
  --key KEY       ECDSA P-256 private key PEM (default: ${join(DEFAULT_KEYS_DIR, PRIVATE_KEY_FILE)}; see "keys init")
  --data-dir DIR  the gateway's data dir (default: ./data)
  --profile P     the profile the gateway ran under, recorded in the manifest (default: default)
  --keyless       sign keyless instead (online only): Fulcio certificate for the OIDC token in
                  SIGSTORE_ID_TOKEN, logged in Rekor; verify such bundles with cosign, not "verify --key"
  --fulcio-url U  Fulcio for --keyless (default: https://fulcio.sigstore.dev)
  --rekor-url U   Rekor for --keyless (default: https://rekor.sigstore.dev)
  -h, --help      show this help`;

const options = {
  tenant: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  signal: { type: 'string', multiple: true },
  out: { type: 'string' },
  key: { type: 'string' },
  'data-dir': { type: 'string' },
  profile: { type: 'string' },
  keyless: { type: 'boolean' },
  'fulcio-url': { type: 'string' },
  'rekor-url': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseTime(flag: string, value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new UsageError(`${flag}: expected an ISO 8601 time such as 2026-01-31T12:00:00Z (got "${value}")`);
  return ms;
}

export function parseSignals(values: string[] | undefined): Signal[] {
  if (!values || values.length === 0) return [...SIGNALS];
  const out = new Set<Signal>();
  for (const v of values.flatMap((x) => x.split(','))) {
    const s = v.trim();
    if (!(SIGNALS as readonly string[]).includes(s)) throw new UsageError(`--signal: expected ${SIGNALS.join(', ')} (got "${s}")`);
    out.add(s as Signal);
  }
  return SIGNALS.filter((s) => out.has(s));
}

function progressBar(): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (done, total) => {
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    process.stderr.write(`\rcapture [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} segments`);
    if (done === total) process.stderr.write('\n');
  };
}

export const captureCommand: Command = {
  help,
  async run(args) {
    const { values } = parseCommandArgs(args, options, false);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    if (!values.tenant) throw new UsageError('--tenant is required');
    if (!values.out) throw new UsageError('--out FILE.tar is required');
    const toMs = values.to !== undefined ? parseTime('--to', values.to) : Date.now();
    const fromMs = values.from !== undefined ? parseTime('--from', values.from) : toMs - DEFAULT_WINDOW_MS;
    if (!(fromMs < toMs)) throw new UsageError(`--from (${new Date(fromMs).toISOString()}) must be before --to (${new Date(toMs).toISOString()})`);
    const signals = parseSignals(values.signal);
    const dataDir = resolve(values['data-dir'] ?? 'data');
    let signing: { signer: Signer; witnesses: Witness[] };
    if (values.keyless) {
      if (values.key) throw new UsageError('--keyless and --key exclude each other');
      const identityToken = process.env.SIGSTORE_ID_TOKEN;
      if (!identityToken) throw new UsageError('--keyless needs an OIDC identity token in SIGSTORE_ID_TOKEN');
      signing = createKeylessSigning({ identityToken, fulcioURL: values['fulcio-url'], rekorURL: values['rekor-url'] });
    } else {
      const keyPath = resolve(values.key ?? join(DEFAULT_KEYS_DIR, PRIVATE_KEY_FILE));
      try {
        signing = { signer: createKeySigner(readFileSync(keyPath, 'utf8')), witnesses: [] };
      } catch (err) {
        stdio.err(`stella telemetry capture: cannot use signing key ${keyPath}: ${(err as Error).message} (create one with "stella telemetry keys init")`);
        return 1;
      }
    }
    const out = resolve(values.out);
    const result = await captureWindow({
      root: join(dataDir, 'forensic'),
      tenant: values.tenant,
      fromMs,
      toMs,
      signals,
      profile: values.profile ?? 'default',
      ...signing,
      onProgress: progressBar(),
      out,
    });
    const t = result.manifest.totals;
    for (const w of result.warnings) stdio.err(`warning: ${w}`);
    for (const s of result.manifest.shed) {
      stdio.err(`warning: the tee shed ${s.records} records (${s.bytes} bytes, ${s.reason}) between ${new Date(s.fromMs).toISOString()} and ${new Date(s.toMs).toISOString()}; the manifest says so`);
    }
    stdio.out(
      `wrote ${out}: tenant ${values.tenant}, ${new Date(fromMs).toISOString()} .. ${new Date(toMs).toISOString()}, ` +
        `${t.chunks} chunks, ${t.records.traces + t.records.metrics + t.records.logs} records ` +
        `(spans ${t.items.traces}, data points ${t.items.metrics}, log records ${t.items.logs})`,
    );
    stdio.out(`manifest sha256 ${result.manifestSha256}`);
    stdio.out(`hold ${result.holdPath}`);
    return 0;
  },
};
