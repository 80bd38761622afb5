// Credentials after the `Bearer` scheme (RFC 6750 §2.1; the scheme name is case-insensitive, RFC 9110
// §11.1): a token68 (letters, digits, `-._~+/`, trailing `=`), opaque or a JWT (index.ts lets the jwt
// finding win when both cover the same text). The scheme word is not part of the finding. Also Google
// OAuth access tokens (`ya29.`), which are bearer tokens wherever they appear.
import type { Detector, Finding } from './types.js';

// Separator: whitespace, or `%20`/`+` when the header was URL-encoded into a query or form.
const BEARER = /(?<![A-Za-z0-9])bearer(?:[ \t]{1,8}|%20|\+)([A-Za-z0-9._~+/-]{8,4096}={0,3})/gi;
const GOOGLE = /(?<![A-Za-z0-9])ya29\.[A-Za-z0-9._-]{20,4096}/g;

/**
 * Random tokens have a digit or an upper-case letter after a lower-case one (for 12+ base62 characters,
 * all but certainly); prose after the word ("Bearer authentication", "Bearer realm=…") has neither.
 */
function looksRandom(s: string): boolean {
  if (s.length >= 24) return true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) return true;
    if (c >= 0x41 && c <= 0x5a && i > 0) {
      const p = s.charCodeAt(i - 1);
      if (p >= 0x61 && p <= 0x7a) return true;
    }
  }
  return false;
}

export function findBearerTokens(value: string, out: Finding[]): void {
  const first = out.length;
  BEARER.lastIndex = 0;
  for (let m = BEARER.exec(value); m !== null; m = BEARER.exec(value)) {
    const start = m.index + m[0].length - m[1]!.length;
    let end = m.index + m[0].length;
    while (end > start && value.charCodeAt(end - 1) === 0x2e) end--; // a full stop after the token
    if (end - start < 8 || !looksRandom(value.slice(start, end))) continue;
    out.push({ category: 'bearer_token', start, end });
  }
  if (value.indexOf('ya29.') === -1) return;
  GOOGLE.lastIndex = 0;
  // Bearer findings are sorted: one forward cursor skips the ya29 tokens already found after Bearer.
  const bearerEnd = out.length;
  let k = first;
  for (let m = GOOGLE.exec(value); m !== null; m = GOOGLE.exec(value)) {
    while (k < bearerEnd && out[k]!.end <= m.index) k++;
    if (k < bearerEnd && out[k]!.start <= m.index) continue;
    let end = m.index + m[0].length;
    while (value.charCodeAt(end - 1) === 0x2e) end--; // a full stop after the token
    out.push({ category: 'bearer_token', start: m.index, end });
  }
}

export const bearerTokenDetector: Detector = { category: 'bearer_token', find: findBearerTokens };
