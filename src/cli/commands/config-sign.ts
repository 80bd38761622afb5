// `stella telemetry config sign FILE|DIR --key KEY.pem` and `config verify FILE|DIR --key PUB.pem`:
// configs and policy files signed the way forensic bundles are (offline ECDSA P-256 key from
// "keys init", Sigstore bundle v0.3, verified offline). A file gets FILE.sigstore.json beside it; a
// directory gets one signed manifest of every file's SHA-256 (.stella-signed.json and its bundle), which
// binds the set: see src/trust/signed-files.ts for why. `serve --trust-key PUB` then refuses anything
// else. Exit codes: 0 signed / verified, 1 failed (each problem named), 2 bad command line.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_SUFFIX, DIR_MANIFEST, DIR_MANIFEST_BUNDLE, readPrivateKey, readPublicKey, readVerifiedFile, signDirectory, signFile, verifyDirectory } from '../../trust/signed-files.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';

const signHelp = `Usage: stella telemetry config sign FILE|DIR --key KEY.pem

Signs a config or policy file, or a whole directory, with the offline key that signs forensic bundles
("stella telemetry keys init"), so that a gateway started with --trust-key (or trust.keys) accepts it:
  FILE   writes FILE${BUNDLE_SUFFIX} beside it (a Sigstore bundle over the file's bytes)
  DIR    writes DIR/${DIR_MANIFEST} (every file's SHA-256, canonical JSON) and DIR/${DIR_MANIFEST_BUNDLE};
         one signature over the set, so files cannot be mixed across versions, added or removed
Re-sign after every edit: a changed file no longer verifies.

Options:
  --key KEY.pem  the private key (PKCS#8 PEM; required)
  -h, --help     show this help`;

const verifyHelp = `Usage: stella telemetry config verify FILE|DIR --key PUB.pem

Checks offline what "config sign" wrote, as the gateway does with --trust-key: a file against its
bundle (or the signed manifest of its directory), a directory file by file against its manifest
(missing, extra and changed files are each named). Exits 0 when everything verifies, 1 otherwise.

Options:
  --key PUB.pem  a trusted public key (repeatable)
  -h, --help     show this help`;

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
  }
}

export const configSignCommand: Command = {
  help: signHelp,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, { key: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const, true);
    if (values.help) {
      stdio.out(signHelp);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`expected one FILE or DIR to sign (got ${positionals.length})`);
    if (!values.key) throw new UsageError('--key KEY.pem is required');
    const target = positionals[0]!;
    const dir = isDirectory(target);
    let pem: string;
    try {
      pem = readPrivateKey(values.key);
    } catch (err) {
      stdio.err(`stella telemetry config sign: cannot use private key ${values.key}: ${(err as Error).message}`);
      return 1;
    }
    if (dir) {
      const m = await signDirectory(target, pem);
      stdio.out(`signed ${target}: ${m.files.length} file${m.files.length === 1 ? '' : 's'} in ${join(target, DIR_MANIFEST)}, signature ${join(target, DIR_MANIFEST_BUNDLE)}`);
    } else {
      const out = await signFile(target, pem);
      stdio.out(`signed ${target}: ${out}`);
    }
    return 0;
  },
};

export const configVerifyCommand: Command = {
  help: verifyHelp,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, { key: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } } as const, true);
    if (values.help) {
      stdio.out(verifyHelp);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`expected one FILE or DIR to verify (got ${positionals.length})`);
    if (!values.key || values.key.length === 0) throw new UsageError('--key PUB.pem is required');
    const target = positionals[0]!;
    const dir = isDirectory(target);
    const keys: string[] = [];
    for (const k of values.key) {
      try {
        keys.push(readPublicKey(k));
      } catch (err) {
        stdio.err(`stella telemetry config verify: cannot use public key ${k}: ${(err as Error).message}`);
        return 1;
      }
    }
    if (dir) {
      const r = verifyDirectory(target, keys);
      if (!r.ok) {
        for (const p of r.problems) stdio.err(`FAILED ${p.failure}: ${p.message}`);
        stdio.err(`INVALID: ${target}`);
        return 1;
      }
      stdio.out(`OK: ${target}: ${r.files} files signed by key ${r.keyId}`);
      return 0;
    }
    const r = readVerifiedFile(target, keys);
    if (!r.ok) {
      stdio.err(`FAILED ${r.failure}: ${r.message}`);
      return 1;
    }
    stdio.out(`OK: ${target} signed by key ${r.keyId}`);
    return 0;
  },
};
