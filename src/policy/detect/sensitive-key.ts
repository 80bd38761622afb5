// The sensitive-name rule: a value is secret because of the name it is stored under, not because of
// its shape (passwords, session ids, opaque API keys). Names containing `password`, `passwd`, `pwd`,
// `secret`, `token`, `api_key`/`api-key`/`apikey`, `authorization`, `cookie` or `ssn` (any case) are
// sensitive, plus the private-key/passphrase names; `*_tokens` counts (`gen_ai.usage.input_tokens`,
// `max_tokens`) and OAuth's `token_type` are not, and a bare `key` is not (`feature_flag.key` and
// `messaging.kafka.message.key` hold no credential; `x-api-key` and `secret_access_key` match the words
// above).
//
// The same rule applies to names inside text, in the forms logs and configs use:
// - `--db-password=…` and `--api-key …` CLI flags;
// - `key=value` pairs (`db.password=…`, `AWS_SECRET_ACCESS_KEY=…`, `password => '…'`);
// - `Name: value` header lines (a whole line when the name starts a line, else one token);
// - `"key": "value"` pairs inside JSON-looking strings (also `'key': '…'` and backslash-escaped quotes);
// - `Cookie`/`Set-Cookie` values, taken to the end of the line so that every cookie is covered;
// - `Authorization: Basic <base64>` (the scheme word is not part of the finding), and `Basic <b64>`
//   anywhere when it decodes to `user:password` (RFC 7617 §2).
import { codeAt, isAlnum, isLower, lowerName } from './chars.js';
import type { Detector, Finding } from './types.js';

const WORDS = [
  'password',
  'passwd',
  'pwd',
  'secret',
  'api_key',
  'api-key',
  'apikey',
  'authorization',
  'cookie',
  'private_key',
  'private-key',
  'privatekey',
  'passphrase',
];

// A quick screen (no allocation) for names holding none of the words at all, the common case.
const ANY_WORD = /p(?:assw|wd|assphrase|rivate[_-]?key)|secret|api[_-]?key|authorization|cookie|ssn|token/i;

/** Whether a name (attribute key, kvlist key, header, flag or JSON member name) marks a secret value. */
export function isSensitiveName(name: string): boolean {
  if (name.length < 3 || !ANY_WORD.test(name)) return false;
  // OAuth's `token_type` (RFC 6749 §5.1) names the kind of token (`bearer`), not a token.
  const k = lowerName(name).replace(/token[_-]?type$/, '');
  for (const w of WORDS) if (k.includes(w)) return true;
  for (let i = k.indexOf('ssn'); i !== -1; i = k.indexOf('ssn', i + 1)) {
    if (!k.startsWith('classn', i - 3)) return true; // `classname` is not an SSN
  }
  for (let i = k.indexOf('token'); i !== -1; i = k.indexOf('token', i + 1)) {
    // `input_tokens`, `max_tokens`, `outputTokens`: counts of tokens, not tokens.
    const plural = k.charCodeAt(i + 5) === 0x73 && !isAlnum(codeAt(k, i + 6));
    const counted = plural && (k.charCodeAt(i - 1) === 0x5f || (name.charCodeAt(i) === 0x54 && isLower(codeAt(name, i - 1))));
    if (!counted) return true;
  }
  return false;
}

// Keys repeat across a batch; a bounded memo keeps the per-attribute check to one map lookup.
const memo = new Map<string, boolean>();
const MEMO_MAX = 4096;

/** Whether an attribute or kvlist key is sensitive: its whole value is then a password_by_key finding. */
export function isSensitiveKey(key: string): boolean {
  const hit = memo.get(key);
  if (hit !== undefined) return hit;
  const v = isSensitiveName(key);
  if (memo.size >= MEMO_MAX) memo.clear();
  memo.set(key, v);
  return v;
}

const MAX_NAME = 64;
const MAX_VALUE = 4096;
const SCHEMES = new Set(['basic', 'bearer', 'digest', 'token', 'negotiate', 'ntlm', 'hoba', 'mutual', 'aws4-hmac-sha256']);
const LITERALS = new Set(['true', 'false', 'null', 'undefined', 'none', 'nil', '""', "''"]);

const isBlank = (c: number): boolean => c === 0x20 || c === 0x09;
const isNameChar = (c: number): boolean => isAlnum(c) || c === 0x5f || c === 0x2e || c === 0x2d || c === 0x5b || c === 0x5d;
/** Ends an unquoted value: whitespace, quotes, `&;,<>()[]{}\|`. */
function isTerminator(c: number): boolean {
  return (
    c <= 0x20 || c === 0x22 || c === 0x27 || c === 0x26 || c === 0x3b || c === 0x2c || c === 0x3c || c === 0x3e ||
    c === 0x28 || c === 0x29 || c === 0x5b || c === 0x5d || c === 0x7b || c === 0x7d || c === 0x5c || c === 0x7c || c === 0x60
  );
}

/** A literal `\n` or `\r` (two characters) at i. */
const isEscapedBreak = (s: string, i: number): boolean =>
  s.charCodeAt(i) === 0x5c && (s.charCodeAt(i + 1) === 0x6e || s.charCodeAt(i + 1) === 0x72);

function atLineStart(s: string, i: number): boolean {
  while (i > 0 && isBlank(s.charCodeAt(i - 1))) i--;
  if (i === 0) return true;
  const c = s.charCodeAt(i - 1);
  return c === 0x0a || c === 0x0d || (i >= 2 && isEscapedBreak(s, i - 2));
}

function lineEnd(s: string, i: number): number {
  const limit = Math.min(s.length, i + MAX_VALUE);
  while (i < limit) {
    const c = s.charCodeAt(i);
    if (c === 0x0a || c === 0x0d || isEscapedBreak(s, i)) break;
    i++;
  }
  while (isBlank(s.charCodeAt(i - 1))) i--;
  return i;
}

function tokenEnd(s: string, i: number): number {
  const limit = Math.min(s.length, i + MAX_VALUE);
  while (i < limit && !isTerminator(s.charCodeAt(i))) i++;
  return i;
}

/**
 * End of a quoted value opened at i (`"`, `'`, or backslash-escaped `\"` inside an encoded JSON
 * string); the closing quote is excluded. Escaped quotes inside the value do not end it: `\"` in a
 * plain string, `\\\"` (an escaped backslash and an escaped quote) in an escaped one.
 */
function quotedEnd(s: string, i: number, escaped: boolean, quote: number): number {
  const limit = Math.min(s.length, i + MAX_VALUE);
  while (i < limit) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) {
      let n = 1;
      while (s.charCodeAt(i + n) === 0x5c) n++;
      if (s.charCodeAt(i + n) === quote) {
        if (escaped && n === 1) return i;
        i += n + 1;
        continue;
      }
      i += n;
      continue;
    }
    if (!escaped && (c === quote || c === 0x0a)) return i;
    i++;
  }
  return Math.min(i, s.length);
}

interface Name {
  start: number;
  end: number;
}

/** The name that ends just before `sep` (blanks allowed between), plain or quoted; undefined if none. */
function nameBefore(s: string, sep: number): Name | undefined {
  let i = sep;
  while (i > 0 && sep - i < 8 && isBlank(s.charCodeAt(i - 1))) i--;
  const q = s.charCodeAt(i - 1);
  if (q === 0x22 || q === 0x27) {
    let end = i - 1;
    if (s.charCodeAt(end - 1) === 0x5c) end--; // `\"name\":` inside an escaped JSON string
    let j = end;
    while (j > 0 && end - j < MAX_NAME) {
      const c = s.charCodeAt(j - 1);
      if (c === q || c === 0x5c || c === 0x0a) break;
      j--;
    }
    if (j === end || s.charCodeAt(j - 1) !== q) return undefined;
    return { start: j, end };
  }
  const end = i;
  let j = end;
  while (j > 0 && end - j < MAX_NAME && isNameChar(s.charCodeAt(j - 1))) j--;
  // After a literal `\n`, `\r` or `\t` the letter belongs to the escape, not to the name.
  if (j > 0 && j < end && s.charCodeAt(j - 1) === 0x5c && /[nrt]/.test(s[j]!)) j++;
  return j === end ? undefined : { start: j, end };
}

/**
 * The secret value after a sensitive name's separator at `from`: [start, end) or undefined. `toLineEnd`
 * takes the rest of the line (header lines, cookies) instead of one token.
 */
function valueAfter(s: string, from: number, toLineEnd: boolean): [number, number] | undefined {
  let i = from;
  while (i < s.length && i - from < 8 && isBlank(s.charCodeAt(i))) i++;
  const c = s.charCodeAt(i);
  let start = i;
  let end: number;
  let tokenMode = false;
  if (c === 0x22 || c === 0x27 || (c === 0x5c && (s.charCodeAt(i + 1) === 0x22 || s.charCodeAt(i + 1) === 0x27))) {
    const escaped = c === 0x5c;
    start = i + (escaped ? 2 : 1);
    end = quotedEnd(s, start, escaped, escaped ? s.charCodeAt(i + 1) : c);
  } else if (toLineEnd) {
    end = lineEnd(s, i);
  } else {
    end = tokenEnd(s, i);
    tokenMode = true;
  }
  if (end <= start) return undefined;
  // An authentication scheme word (`Basic`, `Bearer`, …) is not secret; the credential after it is.
  const wordEnd = tokenEnd(s, start);
  if (isBlank(s.charCodeAt(wordEnd)) && SCHEMES.has(s.slice(start, wordEnd).toLowerCase())) {
    let k = wordEnd;
    while (k < s.length && k - wordEnd < 8 && isBlank(s.charCodeAt(k))) k++;
    const credEnd = tokenEnd(s, k);
    if (credEnd > k) {
      start = k;
      if (tokenMode) end = credEnd;
    }
  }
  if (end <= start || s.charCodeAt(start) === 0x3d) return undefined; // `==` is base64 padding
  if (end - start <= 9 && LITERALS.has(s.slice(start, end).toLowerCase())) return undefined;
  return [start, end];
}

/** One `name=value` / `name: value` candidate at the separator `sep`; returns where scanning resumes. */
function pairAt(s: string, sep: number, colon: boolean, out: Finding[]): number {
  const nx = s.charCodeAt(sep + 1);
  if (colon && (nx === 0x3a || s.charCodeAt(sep - 1) === 0x3a)) return sep + 1; // `::`
  if (!colon && (nx === 0x3d || s.charCodeAt(sep - 1) === 0x21)) return sep + 1; // `==`, `!=`
  const name = nameBefore(s, sep);
  if (!name) return sep + 1;
  const text = s.slice(name.start, name.end);
  if (!isSensitiveName(text)) return sep + 1;
  const quoted = s.charCodeAt(name.end) === 0x22 || s.charCodeAt(name.end) === 0x27;
  const cookie = text.toLowerCase().includes('cookie');
  const header = colon && !quoted && atLineStart(s, name.start);
  const from = !colon && nx === 0x3e ? sep + 2 : sep + 1; // `=>`
  const v = valueAfter(s, from, cookie || header);
  if (!v) return sep + 1;
  out.push({ category: 'password_by_key', start: v[0], end: v[1] });
  return v[1];
}

// `--password hunter2` (the `--name=value` form is a key=value pair).
const FLAG = /(?<![A-Za-z0-9_-])--?([A-Za-z0-9][A-Za-z0-9_.-]{0,63})[ \t]{1,8}(?=[^\s-])/g;
// `Basic <base64>` outside a named header; accepted when it decodes to `user:password`.
const BASIC = /(?<![A-Za-z0-9])basic[ \t]{1,8}([A-Za-z0-9+/]{4,1024}={0,2})(?![A-Za-z0-9+/=])/gi;

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Whether base64 text decodes to printable `user:password` (a colon, no control characters). */
export function isBasicCredential(b64: string): boolean {
  let bits = 0;
  let acc = 0;
  let colon = false;
  for (let i = 0; i < b64.length; i++) {
    const v = B64.indexOf(b64[i]!);
    if (v === -1) break; // padding
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      const byte = (acc >> bits) & 0xff;
      if (byte === 0x3a) colon = true;
      else if (byte < 0x20 || byte === 0x7f) return false;
    }
  }
  return colon;
}

/**
 * Overlap test against a sorted list of findings for queries that come in increasing order: the cursor
 * only moves forward, so a scan stays linear however many findings there are.
 */
function overlapCursor(list: readonly Finding[], from: number): (start: number, end: number) => boolean {
  let k = from;
  return (start, end) => {
    while (k < list.length && list[k]!.end <= start) k++;
    return k < list.length && list[k]!.start < end;
  };
}

export function findSensitiveValuesInText(value: string, out: Finding[]): void {
  const first = out.length;
  const n = value.length;
  let i = 0;
  while (i < n) {
    const c = value.charCodeAt(i);
    if (c === 0x3d) i = pairAt(value, i, false, out);
    else if (c === 0x3a) i = pairAt(value, i, true, out);
    else i++;
  }
  // out[first..] is sorted now; the flag and Basic forms only add what the pairs did not cover.
  const flags: Finding[] = [];
  if (value.indexOf('-') !== -1) {
    const inPairs = overlapCursor(out, first);
    FLAG.lastIndex = 0;
    for (let m = FLAG.exec(value); m !== null; m = FLAG.exec(value)) {
      if (!isSensitiveName(m[1]!)) continue;
      const v = valueAfter(value, m.index + m[0].length, false);
      if (v && !inPairs(v[0], v[1])) {
        flags.push({ category: 'password_by_key', start: v[0], end: v[1] });
        FLAG.lastIndex = Math.max(FLAG.lastIndex, v[1]);
      }
    }
  }
  const basics: Finding[] = [];
  if (value.length >= 10) {
    const inPairs = overlapCursor(out, first);
    const inFlags = overlapCursor(flags, 0);
    BASIC.lastIndex = 0;
    for (let m = BASIC.exec(value); m !== null; m = BASIC.exec(value)) {
      const b64 = m[1]!;
      const end = m.index + m[0].length;
      const start = end - b64.length;
      if (isBasicCredential(b64) && !inPairs(start, end) && !inFlags(start, end)) basics.push({ category: 'password_by_key', start, end });
    }
  }
  for (const f of flags) out.push(f);
  for (const f of basics) out.push(f);
}

export const sensitiveTextDetector: Detector = { category: 'password_by_key', find: findSensitiveValuesInText };
