// `stella telemetry kit build` and `kit verify`: the signed offline kit (src/kit/). build runs from a
// built checkout (npm ci && npm run build) and needs no network; verify needs only the kit and the
// public key.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { buildKit, kitFileName } from '../../kit/kit-build.js';
import { verifyKitFile } from '../../kit/kit-verify.js';
import { packageRoot } from '../../paths.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

const buildHelp = `Usage: stella telemetry kit build --key KEY.pem [--out stella-kit-<version>.tar]

Builds the offline kit from this checkout (after "npm ci" and "npm run build"), with no network: the
gateway as one npm package with every production dependency bundled (installs with npm --offline),
configs/{default,forensic,airgap}.yaml, the shipped policies, the Grafana dashboards and Prometheus alert
rules, install.sh, tools/import-grafana.mjs, README.txt, COMPLIANCE.md, and kit-manifest.json (every
file's SHA-256 and size) signed by kit-manifest.sigstore.json (a Sigstore bundle). The same checkout and
key give the same bytes. Check a kit with "stella telemetry kit verify".

Options:
  --key KEY.pem  ECDSA P-256 private key PEM that signs the manifest (see "keys init"; required)
  --out FILE     the kit to write, replaced if it exists (default: stella-kit-<version>.tar in the
                 working directory); written as FILE.tmp and renamed, so FILE is always whole
  -h, --help     show this help`;

const verifyHelp = `Usage: stella telemetry kit verify KIT.tar --key PUB.pem

Checks an offline kit with the public key alone, before anything in it is extracted or run: the tar holds
only regular files with safe relative names (no symlinks, no absolute paths, no ".."), within size
bounds; kit-manifest.sigstore.json signs kit-manifest.json; every file the manifest lists is present
with its SHA-256 and size; nothing else is in the kit. Exits 0 when all of it holds; otherwise 1, with
one line per failure naming the file.

Options:
  --key PUB.pem  the kit signer's public key (required)
  -h, --help     show this help`;

export const kitBuildCommand: Command = {
  help: buildHelp,
  async run(args) {
    const { values } = parseCommandArgs(args, { key: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const, false);
    if (values.help) {
      stdio.out(buildHelp);
      return 0;
    }
    if (!values.key) throw new UsageError('--key KEY.pem is required (a private key from "stella telemetry keys init")');
    if (values.out === '') throw new UsageError('--out: expected a file name');
    let privateKeyPem: string;
    try {
      privateKeyPem = readFileSync(values.key, 'utf8');
      createPrivateKey(privateKeyPem);
    } catch (err) {
      stdio.err(`stella telemetry kit build: cannot use private key ${values.key}: ${(err as Error).message}`);
      return 1;
    }
    const out = resolve(values.out ?? kitFileName(packageVersion()));
    if (!existsSync(dirname(out))) {
      stdio.err(`stella telemetry kit build: --out ${values.out}: the directory ${dirname(out)} does not exist`);
      return 1;
    }
    try {
      const kit = await buildKit({ root: packageRoot, out, privateKeyPem });
      const m = kit.manifest;
      stdio.out(`wrote ${kit.path} (${kit.bytes} bytes), signed by key ${m.signerKeyId}`);
      stdio.out(`${m.gateway.name} ${m.gateway.version} (commit ${m.gateway.commit}): ${m.gateway.package} bundles ${m.gateway.bundledDependencies} production dependencies (${kit.packageFiles} files)`);
      stdio.out(`${m.totals.files} files (${m.totals.bytes} bytes) listed in kit-manifest.json, sha256 ${kit.manifestSha256}`);
      for (const f of m.files) stdio.out(`  ${f.path}  ${f.size}`);
      return 0;
    } catch (err) {
      stdio.err(`stella telemetry kit build: ${(err as Error).message.replace(/^kit build: /, '')}`);
      return 1;
    }
  },
};

export const kitVerifyCommand: Command = {
  help: verifyHelp,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, { key: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const, true);
    if (values.help) {
      stdio.out(verifyHelp);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'expected the kit KIT.tar' : `expected one KIT.tar (got ${positionals.length})`);
    if (!values.key) throw new UsageError('--key PUB.pem is required');
    const file = positionals[0]!;
    let publicKeyPem: string;
    try {
      publicKeyPem = readFileSync(values.key, 'utf8');
      createPublicKey(publicKeyPem);
    } catch (err) {
      stdio.err(`stella telemetry kit verify: cannot use public key ${values.key}: ${(err as Error).message}`);
      return 1;
    }
    let result;
    try {
      result = verifyKitFile(file, publicKeyPem);
    } catch (err) {
      stdio.err(`stella telemetry kit verify: cannot read ${file}: ${(err as Error).message}`);
      return 1;
    }
    if (!result.ok) {
      for (const f of result.failures) stdio.err(`FAILED ${f.kind}: ${f.message}`);
      stdio.err(`INVALID: ${file} (${result.failures.length} failure${result.failures.length === 1 ? '' : 's'})`);
      return 1;
    }
    const m = result.manifest;
    stdio.out(`OK: ${file} signed by key ${result.keyId}`);
    stdio.out(`${m.gateway.name} ${m.gateway.version} (commit ${m.gateway.commit}); ${m.totals.files} files verified (${m.totals.bytes} bytes); manifest sha256 ${result.manifestSha256}`);
    return 0;
  },
};
