// The `trust` section of the config file: public keys whose signatures the gateway requires on its
// config file and every policy file (docs/guides/config-rollout.md). With at least one key, the gateway
// refuses to start with an unsigned or tampered config or policy file, and a hot reload refuses an
// unsigned or tampered policy change (the last good version stays active; counted as
// policy_file_rejections_total{reason="signature"} and audited). `serve --trust-key PUB` adds keys.
//
//   trust:
//     keys: [/etc/stella/trust/release.pub.pem]   # SPKI PEM public keys ("stella telemetry keys init")
//
// Keys given only in the config file protect the policy files, and the config file against edits that
// keep this section; whoever can rewrite the config can also delete it. Give the key on the command
// line (or bake it into the image) to protect the config file itself.
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { RawConfig } from '../profiles.js';
import type { Reader } from '../validate.js';

export interface TrustConfig {
  /** Paths of the trusted public keys (PEM); empty: signatures are not checked. */
  keys: string[];
}

export const DEFAULT_TRUST: TrustConfig = { keys: [] };

export function readTrust(r: Reader, value: unknown): TrustConfig {
  const s: RawConfig = r.section('trust', value, ['keys']);
  if (s.keys === undefined || s.keys === null) return { keys: [] };
  if (!Array.isArray(s.keys)) {
    r.fail('trust.keys', `expected a list of public key files (got ${typeof s.keys === 'string' ? JSON.stringify(s.keys) : typeof s.keys})`);
    return { keys: [] };
  }
  const keys: string[] = [];
  s.keys.forEach((k: unknown, i: number) => {
    const path = `trust.keys[${i}]`;
    if (typeof k !== 'string' || k === '') {
      r.fail(path, `expected the path of a public key file (PEM) (got ${JSON.stringify(k) ?? 'nothing'})`);
      return;
    }
    const problem = publicKeyProblem(k);
    if (problem) r.fail(path, `cannot use public key ${JSON.stringify(k)}: ${problem}`);
    else if (!keys.includes(k)) keys.push(k);
  });
  return { keys };
}

/** Why `path` is not a usable public key (undefined when it is). */
export function publicKeyProblem(path: string): string | undefined {
  let pem: string;
  try {
    pem = readFileSync(resolve(path), 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message;
  }
  try {
    const key = createPublicKey(pem);
    if (key.type !== 'public' || !pem.includes('PUBLIC KEY')) return 'expected a public key (SPKI PEM), not a private key';
  } catch (err) {
    return `not a PEM public key (${(err as Error).message})`;
  }
  return undefined;
}

/** The PEM text of each trusted key (read when the gateway starts; validate.ts checked them). */
export function trustedKeyPems(trust: TrustConfig): string[] {
  return trust.keys.map((k) => readFileSync(resolve(k), 'utf8'));
}
