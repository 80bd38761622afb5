// `stella telemetry capture --tenant T [--from ISO] [--to ISO] [--signal …] --out FILE.tar [--key KEY]`:
// cuts a tenant's window out of the forensic archive into a signed bundle (src/tee/capture.ts).
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL, type Signer, type Witness } from '@sigstore/sign';
import type { EgressConfig } from '../../config/sections/egress.js';
import { PROFILES, type ProfileName } from '../../config/types.js';
import { createEgressGuard, urlDestination } from '../../egress/egress.js';
import { loadConfig } from '../../config/load.js';
import { DEFAULT_FORENSIC, type CaptureLimitsConfig } from '../../config/sections/forensic.js';
import { defaultAuditFile } from '../../incident/audit-log.js';
import { incidentStoreConfig } from '../../incident/store.js';
import { auditCapture, type CaptureAuditEntry } from '../../tee/capture-audit.js';
import { parseCaptureRequest, type CaptureRequest } from '../../tee/capture-request.js';
import { captureWindow } from '../../tee/capture.js';
import { forensicDir } from '../../tee/layout.js';
import { createKeylessSigning, createKeySigner } from '../../tee/sign.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';
import { DEFAULT_KEYS_DIR, PRIVATE_KEY_FILE } from './keys-init.js';

const help = `Usage: stella telemetry capture --tenant T --out FILE.tar [--from ISO] [--to ISO]
                                 [--signal traces,logs,metrics] [--key KEY] [--config FILE] [--data-dir DIR] [--profile P]

Builds a signed forensic bundle of tenant T's archived telemetry received in [from, to): a tar holding
manifest.json (canonical JSON: every chunk's SHA-256, size, record counts, times, tiers, policy
versions, and the windows the tee shed), manifest.sigstore.json (a Sigstore bundle signing the
manifest) and chunks/. The same window captured twice gives a byte-identical file. Also writes a hold
(DIR/forensic/holds/) so retention keeps the window's segments for 7 days. The inputs are checked
as POST /admin/v1/captures checks them: a tenant id, --to at most forensic.captures.maxFutureSkew (5m)
ahead, --from clamped to the tenant's first archived record, the window at most
forensic.captures.maxWindow (7d). Every capture, done or refused, is a line in the audit log
(<incidents dir>/audit.log). The bundle is written with mode 0600.

Options:
  --tenant T      the tenant to capture (required)
  --from ISO      window start, inclusive (default: one hour before --to)
  --to ISO        window end, exclusive (default: now)
  --signal LIST   comma-separated signals (default: traces,metrics,logs)
  --out FILE      the bundle to write (required)
  --key KEY       ECDSA P-256 private key PEM (default: ${join(DEFAULT_KEYS_DIR, PRIVATE_KEY_FILE)}; see "keys init")
  --config FILE   the gateway's config: its dataDir, forensic.dir, forensic.captures limits and incidents.dir
  --data-dir DIR  the gateway's data dir (default: the config's, else ./data)
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
  config: { type: 'string' },
  profile: { type: 'string' },
  keyless: { type: 'boolean' },
  'fulcio-url': { type: 'string' },
  'rekor-url': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function progressBar(): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (done, total) => {
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    process.stderr.write(`\rcapture [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} segments`);
    if (done === total) process.stderr.write('\n');
  };
}

/** Where the CLI reads the archive and the limits from: --config, then --data-dir, else the defaults. */
function captureSettings(values: { config?: string; 'data-dir'?: string; profile?: string }): { root: string; auditFile: string; limits: CaptureLimitsConfig; profile?: string; egress?: EgressConfig } {
  if (values.config === undefined) {
    const dataDir = resolve(values['data-dir'] ?? 'data');
    return { root: join(dataDir, 'forensic'), auditFile: defaultAuditFile(dataDir), limits: DEFAULT_FORENSIC.captures };
  }
  const loaded = loadConfig({ file: values.config, flags: { dataDir: values['data-dir'] }, ...(values.profile !== undefined && { profile: values.profile }) });
  if (!loaded.ok) throw new UsageError(loaded.errors.join('\n'));
  const c = loaded.config;
  return { root: forensicDir(c), auditFile: join(incidentStoreConfig(c).dir, 'audit.log'), limits: c.forensic.captures, profile: c.profile, egress: c.egress };
}

function osUser(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

export const captureCommand: Command = {
  help,
  async run(args) {
    const { values } = parseCommandArgs(args, options, false);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    if (!values.out) throw new UsageError('--out FILE.tar is required');
    const settings = captureSettings(values);
    const by = osUser();
    let request: CaptureRequest | undefined;
    const audit = (entry: Omit<CaptureAuditEntry, 'via' | 'by' | 'tenant' | 'request'>): void => {
      try {
        auditCapture(settings.auditFile, Date.now(), { via: 'cli', by, tenant: values.tenant, ...(request && { request }), ...entry });
      } catch (err) {
        // The capture's outcome stands; the operator is told the audit line is missing.
        stdio.err(`stella telemetry capture: warning: cannot append to the audit log ${settings.auditFile}: ${(err as Error).message}`);
      }
    };
    // The same checks, in the same function, as POST /admin/v1/captures; only the names become flags.
    const parsed = parseCaptureRequest(
      { tenant: values.tenant, from: values.from, to: values.to, signals: values.signal?.join(',') },
      { now: Date.now(), limits: settings.limits, root: settings.root },
    );
    if (!parsed.ok) {
      audit({ outcome: 'refused', error: parsed.message });
      throw new UsageError(parsed.field === 'window' ? parsed.message : `--${parsed.field === 'signals' ? 'signal' : parsed.field}${parsed.message.slice(parsed.field.length)}`);
    }
    request = parsed.request;
    const { tenant, fromMs, toMs, signals } = request;
    let signing: { signer: Signer; witnesses: Witness[] };
    if (values.keyless) {
      if (values.key) throw new UsageError('--keyless and --key exclude each other');
      const identityToken = process.env.SIGSTORE_ID_TOKEN;
      if (!identityToken) throw new UsageError('--keyless needs an OIDC identity token in SIGSTORE_ID_TOKEN');
      // Sealed mode (docs/guides/sealed-mode.md): Fulcio and Rekor are outbound destinations like any other.
      const profile = settings.profile ?? values.profile;
      const guard = createEgressGuard({ profile: (PROFILES as readonly string[]).includes(profile ?? '') ? (profile as ProfileName) : 'default', ...(settings.egress && { egress: settings.egress }) });
      for (const [flag, url] of [['--fulcio-url', values['fulcio-url'] ?? DEFAULT_FULCIO_URL], ['--rekor-url', values['rekor-url'] ?? DEFAULT_REKOR_URL]] as const) {
        const to = urlDestination(url);
        const allowed = to ? guard.check(to.host, to.port) : { ok: false as const, message: `${url} is not a URL` };
        if (!allowed.ok) throw new UsageError(`--keyless: ${flag} ${allowed.message}; sign with the offline key (--key) instead`);
      }
      signing = createKeylessSigning({ identityToken, fulcioURL: values['fulcio-url'], rekorURL: values['rekor-url'] });
    } else {
      const keyPath = resolve(values.key ?? join(DEFAULT_KEYS_DIR, PRIVATE_KEY_FILE));
      try {
        signing = { signer: createKeySigner(readFileSync(keyPath, 'utf8')), witnesses: [] };
      } catch (err) {
        const message = `cannot use signing key ${keyPath}: ${(err as Error).message} (create one with "stella telemetry keys init")`;
        audit({ outcome: 'refused', error: message });
        stdio.err(`stella telemetry capture: ${message}`);
        return 1;
      }
    }
    if (request.requestedFromMs !== undefined) {
      stdio.err(`note: --from ${new Date(request.requestedFromMs).toISOString()} is before tenant ${tenant}'s first archived record; capturing from ${new Date(fromMs).toISOString()}`);
    }
    const out = resolve(values.out);
    let result;
    try {
      result = await captureWindow({
        root: settings.root,
        tenant,
        fromMs,
        toMs,
        signals,
        profile: values.profile ?? settings.profile ?? 'default',
        ...signing,
        onProgress: progressBar(),
        out,
      });
    } catch (err) {
      audit({ outcome: 'failed', error: (err as Error).message });
      throw err;
    }
    audit({ outcome: 'ok', path: out, manifestSha256: result.manifestSha256, bytes: result.bytes, holdPath: result.holdPath });
    const t = result.manifest.totals;
    for (const w of result.warnings) stdio.err(`warning: ${w}`);
    for (const s of result.manifest.shed) {
      stdio.err(`warning: the tee shed ${s.records} records (${s.bytes} bytes, ${s.reason}) between ${new Date(s.fromMs).toISOString()} and ${new Date(s.toMs).toISOString()}; the manifest says so`);
    }
    stdio.out(
      `wrote ${out}: tenant ${tenant}, ${new Date(fromMs).toISOString()} .. ${new Date(toMs).toISOString()}, ` +
        `${t.chunks} chunks, ${t.records.traces + t.records.metrics + t.records.logs} records ` +
        `(spans ${t.items.traces}, data points ${t.items.metrics}, log records ${t.items.logs})`,
    );
    stdio.out(`manifest sha256 ${result.manifestSha256}`);
    stdio.out(`hold ${result.holdPath}`);
    return 0;
  },
};
