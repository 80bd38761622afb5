// `stella telemetry verify FILE.tar --key PUB.pem`: offline verification of a forensic bundle
// (src/tee/verify-bundle.ts). Exit 0 only when the signature and every chunk check out; otherwise 1,
// with one line per failure naming what failed. The file is streamed (verifyBundleFile), so a bundle
// larger than memory verifies.
import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { verifyBundleFile } from '../../tee/verify-bundle.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';

const help = `Usage: stella telemetry verify FILE.tar --key PUB.pem

Checks a forensic bundle offline with the public key alone: the Sigstore signature over manifest.json,
then every chunk the manifest lists (present, same size and SHA-256), then that nothing else is in the
archive. Exits 0 when all of it holds; otherwise exits 1 and names each failure: tampered chunk (which),
tampered manifest, missing or extra file, wrong key.

Options:
  --key PUB.pem  the signer's public key (from "keys init"; required)
  -h, --help     show this help`;

const options = {
  key: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Reads the public key; `undefined` after reporting why it could not. */
function loadKey(command: string, keyPath: string): string | undefined {
  try {
    const publicKeyPem = readFileSync(keyPath, 'utf8');
    createPublicKey(publicKeyPem);
    return publicKeyPem;
  } catch (err) {
    stdio.err(`stella telemetry ${command}: cannot use public key ${keyPath}: ${(err as Error).message}`);
    return undefined;
  }
}

/** Reads the bundle (into memory: replay needs its chunks) and the key; `undefined` after reporting why it could not. */
export function loadBundleAndKey(command: string, file: string, keyPath: string): { tar: Buffer; publicKeyPem: string } | undefined {
  let tar: Buffer;
  try {
    tar = readFileSync(file);
  } catch (err) {
    stdio.err(`stella telemetry ${command}: cannot read ${file}: ${(err as Error).message}`);
    return undefined;
  }
  const publicKeyPem = loadKey(command, keyPath);
  return publicKeyPem === undefined ? undefined : { tar, publicKeyPem };
}

export const verifyCommand: Command = {
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options, true);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'expected the bundle FILE.tar' : `expected one FILE.tar (got ${positionals.length})`);
    if (!values.key) throw new UsageError('--key PUB.pem is required');
    const file = positionals[0]!;
    const publicKeyPem = loadKey('verify', values.key);
    if (publicKeyPem === undefined) return 1;
    let result;
    try {
      result = verifyBundleFile(file, publicKeyPem);
    } catch (err) {
      stdio.err(`stella telemetry verify: cannot read ${file}: ${(err as Error).message}`);
      return 1;
    }
    if (!result.ok) {
      for (const f of result.failures) stdio.err(`FAILED ${f.kind}: ${f.message}`);
      stdio.err(`INVALID: ${file} (${result.failures.length} failure${result.failures.length === 1 ? '' : 's'})`);
      return 1;
    }
    const m = result.manifest;
    const t = m.totals;
    stdio.out(`OK: ${file} signed by key ${result.keyId}`);
    stdio.out(`tenant ${m.tenant}, profile ${m.profile}, ${m.window.from} .. ${m.window.to}, signals ${m.signals.join(',')}`);
    stdio.out(`${t.chunks} chunks verified (${t.bytes} bytes): spans ${t.items.traces}, data points ${t.items.metrics}, log records ${t.items.logs}`);
    stdio.out(`manifest sha256 ${result.manifestSha256}; tiers ${m.retentionTiers.join(',') || '-'}; policy versions ${m.policyVersions.join(',') || '-'}`);
    for (const s of m.shed) stdio.out(`note: the tee shed ${s.records} records (${s.reason}) between ${new Date(s.fromMs).toISOString()} and ${new Date(s.toMs).toISOString()}`);
    return 0;
  },
};
