// The built-in PII detectors as one call: findSecrets / redactValue on decoded strings, and the byte
// prefilter and key rule the wire walker uses before decoding anything. Categories are those of the
// PII corpus README (../shared/fixtures/pii/README.md). Pure functions, no I/O, nothing imported from
// outside this folder: safe to load in worker threads.
import { awsAccessKeyIdDetector, awsSecretKeyDetector } from './aws.js';
import { bearerTokenDetector } from './bearer-token.js';
import { emailDetector } from './email.js';
import { githubTokenDetector } from './github-token.js';
import { ibanDetector } from './iban.js';
import { ipv4Detector, ipv6Detector } from './ip-address.js';
import { jwtDetector } from './jwt.js';
import { paymentCardDetector } from './payment-card.js';
import { phoneDetector } from './phone.js';
import { privateKeyDetector } from './private-key.js';
import { isSensitiveKey, sensitiveTextDetector } from './sensitive-key.js';
import { slackTokenDetector } from './slack-token.js';
import type { Category, Detector, Finding } from './types.js';
import { usSsnDetector } from './us-ssn.js';
import { urlQuerySecretDetector } from './url-query-secret.js';

export type { Category, Detector, Finding } from './types.js';
export { ALL_TRIGGERS, CATEGORY_TRIGGERS, mayContainSecret, secretTriggers, Trigger } from './prefilter.js';
export { isSensitiveKey, isSensitiveName } from './sensitive-key.js';
export { isVersionKey } from './ip-address.js';

/**
 * Every detector, most specific first. The order breaks ties when findings overlap: a JWT after
 * `Bearer` is a jwt, a Slack token in `?token=` is a slack_token, an access key id at the start of
 * X-Amz-Credential is an aws_access_key_id.
 */
export const DETECTORS: readonly Detector[] = [
  privateKeyDetector,
  jwtDetector,
  githubTokenDetector,
  slackTokenDetector,
  awsAccessKeyIdDetector,
  awsSecretKeyDetector,
  paymentCardDetector,
  ibanDetector,
  usSsnDetector,
  emailDetector,
  ipv6Detector,
  ipv4Detector,
  phoneDetector,
  bearerTokenDetector,
  urlQuerySecretDetector,
  sensitiveTextDetector,
];

export const CATEGORIES: readonly Category[] = [...new Set<Category>([...DETECTORS.map((d) => d.category), 'password_by_key'])];

const RANK = new Map<string, number>(DETECTORS.map((d, i) => [d.category, i]));

/**
 * The secrets in `value`, sorted and non-overlapping (UTF-16 offsets). `key` is the attribute or kvlist
 * key the value sits under (for values nested in kvlists and arrays, the innermost key; none for span
 * names, status messages, string log bodies): a sensitive key makes the whole value one
 * password_by_key finding, and version or build keys exempt four-part numbers from the IPv4 detector.
 * Overlapping findings are merged into one, named after the one that starts first (ties: the more
 * specific detector).
 */
export function findSecrets(value: string, key?: string): Finding[] {
  if (value.length === 0) return [];
  if (key !== undefined && isSensitiveKey(key)) return [{ category: 'password_by_key', start: 0, end: value.length }];
  const raw: Finding[] = [];
  for (const d of DETECTORS) d.find(value, raw, key);
  if (raw.length <= 1) return raw;
  raw.sort((a, b) => a.start - b.start || RANK.get(a.category)! - RANK.get(b.category)! || b.end - a.end);
  const merged: Finding[] = [raw[0]!];
  for (let i = 1; i < raw.length; i++) {
    const f = raw[i]!;
    const last = merged[merged.length - 1]!;
    if (f.start < last.end) {
      if (f.end > last.end) last.end = f.end;
    } else {
      merged.push(f);
    }
  }
  return merged;
}

/**
 * `value` with every finding replaced by `replace(finding, text)`, and the number of findings.
 * The same string comes back (count 0) when nothing is found.
 */
export function redactValue(
  value: string,
  key: string | undefined,
  replace: (f: Finding, text: string) => string,
): { value: string; count: number } {
  const findings = findSecrets(value, key);
  if (findings.length === 0) return { value, count: 0 };
  let out = '';
  let pos = 0;
  for (const f of findings) {
    out += value.slice(pos, f.start) + replace(f, value.slice(f.start, f.end));
    pos = f.end;
  }
  return { value: out + value.slice(pos), count: findings.length };
}
