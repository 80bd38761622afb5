// `stella telemetry keys init [--out DIR] [--force]`: the offline ECDSA P-256 key pair that signs
// forensic bundles. The private key is written with mode 0600 (it signs evidence); the public key is
// what travels with the bundles to the machine that verifies them.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateSigningKeyPair } from '../../tee/sign.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';

export const PRIVATE_KEY_FILE = 'signing-key.pem';
export const PUBLIC_KEY_FILE = 'signing-key.pub.pem';
export const DEFAULT_KEYS_DIR = join('data', 'keys');

const help = `Usage: stella telemetry keys init [--out DIR] [--force]

Writes an ECDSA P-256 key pair for signing forensic bundles:
  DIR/${PRIVATE_KEY_FILE}       private key (PKCS#8 PEM, mode 0600): give it to "capture --key"
  DIR/${PUBLIC_KEY_FILE}   public key (SPKI PEM): give it to "verify --key" and "replay --key"

Options:
  --out DIR    where to write the keys (default: ${DEFAULT_KEYS_DIR})
  --force      overwrite existing key files
  -h, --help   show this help`;

const options = {
  out: { type: 'string' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const keysInitCommand: Command = {
  help,
  async run(args) {
    const { values } = parseCommandArgs(args, options, false);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    if (values.out === '') throw new UsageError('--out: expected a directory');
    const dir = resolve(values.out ?? DEFAULT_KEYS_DIR);
    const privatePath = join(dir, PRIVATE_KEY_FILE);
    const publicPath = join(dir, PUBLIC_KEY_FILE);
    if (!values.force) {
      const existing = [privatePath, publicPath].filter((p) => existsSync(p));
      if (existing.length > 0) {
        stdio.err(`stella telemetry keys init: ${existing.join(', ')} already exist(s); use --force to replace (bundles signed with the old key will no longer verify with the new one)`);
        return 1;
      }
    }
    const { privateKeyPem, publicKeyPem } = generateSigningKeyPair();
    mkdirSync(dir, { recursive: true });
    writeFileSync(privatePath, privateKeyPem, { mode: 0o600 });
    chmodSync(privatePath, 0o600); // an existing file (--force) keeps its mode otherwise
    writeFileSync(publicPath, publicKeyPem, { mode: 0o644 });
    stdio.out(`wrote ${privatePath} (private, mode 0600) and ${publicPath} (public)`);
    stdio.out(`capture: stella telemetry capture --tenant T --out capture.tar --key ${privatePath}`);
    stdio.out(`verify:  stella telemetry verify capture.tar --key ${publicPath}`);
    return 0;
  },
};
