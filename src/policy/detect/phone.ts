// Telephone numbers in the forms people and systems write them:
// - E.164 (ITU-T E.164): `+` country code and subscriber number, 8–15 digits, unseparated
//   (`+14155550123`, `+447700900123`);
// - international print forms: `+1 415 555 0123`, `+1 (415) 555-0123`, `+44 7700 900123`,
//   `+44 20 7946 0123`, `+44 (0)20 7946 0123` (groups separated by a space, dot or dash);
// - NANP national forms (area and exchange codes start 2–9): `(415) 555-0123`, `415-555-0123`,
//   `415.555.0123`, `1-415-555-0123`;
// - UK national forms (Ofcom numbering: a trunk `0`, 10 or 11 digits): `07700 900123`, `020 7946 0123`.
// Bare digit runs without `+` or separators are not phones here (order ids, timestamps). The `+` may be
// percent-encoded (`%2B`, RFC 3986 §2.1: `?phone=%2B14155550123`), as a `+` in a URL query must be.
import { isAlnum, isDigit } from './chars.js';
import type { Detector, Finding } from './types.js';

const BEFORE = '(?<![0-9A-Za-z+])(?<![0-9][-. ])';
const AFTER = '(?![0-9A-Za-z])(?![-. ][0-9])';
// `+`, country code, an optional parenthesised group (area code or the UK `(0)`), then digit groups;
// the digit count (8–15, E.164's maximum) is checked in code. This also covers unseparated E.164.
const INTERNATIONAL = new RegExp(`${BEFORE}(?:\\+|%2[Bb])[1-9][0-9]{0,3}(?:[ .-]?\\([0-9]{1,4}\\))?[ .-]?[0-9]{1,12}(?:[ .-][0-9]{1,12}){0,6}${AFTER}`, 'g');
const NANP = new RegExp(`${BEFORE}(?:1[ .-])?(?:\\([2-9][0-9]{2}\\)[ .-]?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}${AFTER}`, 'g');
const UK = new RegExp(`${BEFORE}0[1-9][0-9]{1,3}[ -][0-9]{3,6}(?:[ -][0-9]{3,4})?${AFTER}`, 'g');

function digitCount(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    if (isDigit(s.charCodeAt(i))) n++;
  }
  return n;
}

/** Digits of a match, not counting the `2` of a percent-encoded plus sign. */
function matchDigits(m: string): number {
  return digitCount(m) - (m.charCodeAt(0) === 0x25 ? 1 : 0);
}

/** Whether the value holds a plus sign, plain or percent-encoded. */
function hasPlus(value: string): boolean {
  return value.indexOf('+') !== -1 || value.indexOf('%2B') !== -1 || value.indexOf('%2b') !== -1;
}

function collect(re: RegExp, value: string, out: Finding[], min: number, max: number): void {
  re.lastIndex = 0;
  for (let m = re.exec(value); m !== null; m = re.exec(value)) {
    const n = matchDigits(m[0]);
    if (n >= min && n <= max) out.push({ category: 'phone', start: m.index, end: m.index + m[0].length });
  }
}

const isSep = (c: number): boolean => c === 0x20 || c === 0x2e || c === 0x2d;

/**
 * A necessary condition of a NANP match, far cheaper than the NANP pattern (two lookbehinds tried at
 * every position): its exchange and line, `[2-9]dd` + separator + `dddd`. Card numbers in groups of
 * four and most other digit runs fail it at once. A regex without lookarounds, because irregexp scans
 * for it about twice as fast as a charCodeAt loop.
 */
const NANP_SHAPE = /[2-9][0-9]{2}[ .-][0-9]{4}/;

/**
 * Where a UK match could start first: a trunk `0` followed by 1–9 that BEFORE allows (-1: nowhere).
 * A NANP line number (`555-0123`) fails the lookbehinds, so the UK regex rarely runs at all.
 */
function firstUkStart(value: string): number {
  for (let i = value.indexOf('0'); i !== -1; i = value.indexOf('0', i + 1)) {
    const next = value.charCodeAt(i + 1);
    if (next < 0x31 || next > 0x39) continue;
    if (i > 0) {
      const p = value.charCodeAt(i - 1);
      if (isAlnum(p) || p === 0x2b) continue;
      if (i > 1 && isSep(p) && isDigit(value.charCodeAt(i - 2))) continue;
    }
    return i;
  }
  return -1;
}

function collectFrom(re: RegExp, from: number, value: string, out: Finding[], min: number, max: number): void {
  // Lookbehinds read the text before lastIndex, so starting at the first possible match start finds
  // exactly what a search from 0 finds.
  re.lastIndex = from;
  for (let m = re.exec(value); m !== null; m = re.exec(value)) {
    const n = matchDigits(m[0]);
    if (n >= min && n <= max) out.push({ category: 'phone', start: m.index, end: m.index + m[0].length });
  }
}

/** The three patterns alone, with no necessary-condition checks in front: what the tests compare against. */
export function findPhonesReference(value: string, out: Finding[]): void {
  if (hasPlus(value)) collect(INTERNATIONAL, value, out, 8, 15);
  collect(NANP, value, out, 10, 11);
  collect(UK, value, out, 10, 11);
}

export function findPhones(value: string, out: Finding[]): void {
  if (hasPlus(value)) collect(INTERNATIONAL, value, out, 8, 15);
  if (NANP_SHAPE.test(value)) collect(NANP, value, out, 10, 11);
  const uk = firstUkStart(value);
  if (uk !== -1) collectFrom(UK, uk, value, out, 10, 11);
}

export const phoneDetector: Detector = { category: 'phone', find: findPhones };
