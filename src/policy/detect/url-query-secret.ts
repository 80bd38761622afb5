// Credentials in URL query strings and fragments (RFC 3986 §3.4/§3.5): the value of a parameter whose
// name marks a credential — every sensitive name (password, token, secret, api_key, …) plus the URL
// conventions `sig`/`signature`/`X-Amz-Signature`/`X-Goog-Signature`, `X-Amz-Credential`, `key` (Google
// API keys; only for values of 16+ characters), `auth`, session ids — in any letter case. The finding is
// the value alone (not the name or `=`). A URL nested inside another parameter is percent-encoded, so the
// separators may be `%3F`, `%26`, `%23` and `%3D`; the value then ends at `%26`/`%23` as well.
import { isAlnum, lowerName } from './chars.js';
import { isSensitiveName } from './sensitive-key.js';
import type { Detector, Finding } from './types.js';

const EXACT = new Set([
  'sig',
  'key',
  'auth',
  'pass',
  'session',
  'sessionid',
  'session_id',
  'jsessionid',
  'phpsessid',
  'access_key',
  'accesskey',
  'secret_key',
  'private_key',
  'signing_key',
  'client_assertion',
]);

/** Whether a (raw) query parameter name marks a credential. `%5F`, `%2D`, `%2E` are decoded first. */
export function isCredentialParam(raw: string): boolean {
  let name = lowerName(raw);
  if (name.includes('%')) name = name.replace(/%5f/g, '_').replace(/%2d/g, '-').replace(/%2e/g, '.').replace(/%5b/g, '[').replace(/%5d/g, ']');
  if (isSensitiveName(name) || name.includes('signature') || name.includes('credential')) return true;
  const bracket = name.match(/\[([^\]]*)\]$/); // `user[session]`
  return EXACT.has(name) || (bracket !== null && EXACT.has(bracket[1]!));
}

const MAX_NAME = 96;
const MAX_VALUE = 4096;

const isNameChar = (c: number): boolean => isAlnum(c) || c === 0x5f || c === 0x2e || c === 0x2d || c === 0x5b || c === 0x5d || c === 0x25;

/** `%3F`, `%26` or `%23` (an encoded `?`, `&`, `#`) ending just before i. */
function encodedSeparatorBefore(s: string, i: number): boolean {
  if (i < 3 || s.charCodeAt(i - 3) !== 0x25) return false;
  const a = s.charCodeAt(i - 2);
  const b = s.charCodeAt(i - 1) | 0x20;
  return (a === 0x33 && b === 0x66) || (a === 0x32 && (b === 0x36 || b === 0x33));
}

/** `%3D` (an encoded `=`) ending just before i: a name never spans one. */
function encodedEqualsBefore(s: string, i: number): boolean {
  return i >= 3 && s.charCodeAt(i - 3) === 0x25 && s.charCodeAt(i - 2) === 0x33 && (s.charCodeAt(i - 1) | 0x20) === 0x64;
}

function isPlainTerminator(c: number): boolean {
  // whitespace, quotes, & # ; , ? < > ) ] \ | `
  return (
    c <= 0x20 || c === 0x22 || c === 0x27 || c === 0x26 || c === 0x23 || c === 0x3b || c === 0x2c || c === 0x3f || c === 0x3c ||
    c === 0x3e || c === 0x29 || c === 0x5d || c === 0x5c || c === 0x7c || c === 0x60
  );
}

export function findUrlQuerySecrets(value: string, out: Finding[]): void {
  const n = value.length;
  let i = 0;
  while (i < n) {
    const c = value.charCodeAt(i);
    let sepLen = 0;
    if (c === 0x3d) sepLen = 1;
    else if (c === 0x25 && value.charCodeAt(i + 1) === 0x33 && (value.charCodeAt(i + 2) | 0x20) === 0x64) sepLen = 3;
    if (sepLen === 0) {
      i++;
      continue;
    }
    // The parameter name: back to `?`, `&`, `#`, `;`, their encoded forms, or the start of the string.
    let j = i;
    while (j > 0 && i - j < MAX_NAME && isNameChar(value.charCodeAt(j - 1))) {
      if (encodedSeparatorBefore(value, j) || encodedEqualsBefore(value, j)) break;
      j--;
    }
    const encoded = sepLen === 3 || encodedSeparatorBefore(value, j);
    const before = j === 0 ? -1 : value.charCodeAt(j - 1);
    const separated = j === 0 || encoded || before === 0x3f || before === 0x26 || before === 0x23 || before === 0x3b;
    // A name starting with `-` is a CLI flag (`--db-password=…`), left to the sensitive-name rule.
    if (!separated || j === i || value.charCodeAt(j) === 0x2d || !isCredentialParam(value.slice(j, i))) {
      i += sepLen;
      continue;
    }
    const start = i + sepLen;
    let end = start;
    const limit = Math.min(n, start + MAX_VALUE);
    while (end < limit) {
      const d = value.charCodeAt(end);
      if (isPlainTerminator(d)) break;
      if (encoded && d === 0x25 && value.charCodeAt(end + 1) === 0x32 && ((value.charCodeAt(end + 2) | 0x20) === 0x36 || value.charCodeAt(end + 2) === 0x33)) break;
      end++;
    }
    while (end > start && value.charCodeAt(end - 1) === 0x2e) end--; // a full stop after the URL
    const name = value.slice(j, i).toLowerCase();
    if (end > start && !(name === 'key' && end - start < 16)) {
      out.push({ category: 'url_query_secret', start, end });
      i = end;
    } else {
      i = start;
    }
  }
}

export const urlQuerySecretDetector: Detector = { category: 'url_query_secret', find: findUrlQuerySecrets };
