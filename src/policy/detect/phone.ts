// Telephone numbers in the forms people and systems write them:
// - E.164 (ITU-T E.164): `+` country code and subscriber number, 8–15 digits, unseparated
//   (`+14155550123`, `+447700900123`);
// - international print forms: `+1 415 555 0123`, `+1 (415) 555-0123`, `+44 7700 900123`,
//   `+44 20 7946 0123`, `+44 (0)20 7946 0123` (groups separated by a space, dot or dash);
// - NANP national forms (area and exchange codes start 2–9): `(415) 555-0123`, `415-555-0123`,
//   `415.555.0123`, `1-415-555-0123`;
// - UK national forms (Ofcom numbering: a trunk `0`, 10 or 11 digits): `07700 900123`, `020 7946 0123`.
// Bare digit runs without `+` or separators are not phones here (order ids, timestamps).
import type { Detector, Finding } from './types.js';

const BEFORE = '(?<![0-9A-Za-z+])(?<![0-9][-. ])';
const AFTER = '(?![0-9A-Za-z])(?![-. ][0-9])';
// `+`, country code, an optional parenthesised group (area code or the UK `(0)`), then digit groups;
// the digit count (8–15, E.164's maximum) is checked in code. This also covers unseparated E.164.
const INTERNATIONAL = new RegExp(`${BEFORE}\\+[1-9][0-9]{0,3}(?:[ .-]?\\([0-9]{1,4}\\))?[ .-]?[0-9]{1,12}(?:[ .-][0-9]{1,12}){0,6}${AFTER}`, 'g');
const NANP = new RegExp(`${BEFORE}(?:1[ .-])?(?:\\([2-9][0-9]{2}\\)[ .-]?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}${AFTER}`, 'g');
const UK = new RegExp(`${BEFORE}0[1-9][0-9]{1,3}[ -][0-9]{3,6}(?:[ -][0-9]{3,4})?${AFTER}`, 'g');

function digitCount(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) n++;
  }
  return n;
}

function collect(re: RegExp, value: string, out: Finding[], min: number, max: number): void {
  re.lastIndex = 0;
  for (let m = re.exec(value); m !== null; m = re.exec(value)) {
    const n = digitCount(m[0]);
    if (n >= min && n <= max) out.push({ category: 'phone', start: m.index, end: m.index + m[0].length });
  }
}

export function findPhones(value: string, out: Finding[]): void {
  if (value.indexOf('+') !== -1) collect(INTERNATIONAL, value, out, 8, 15);
  collect(NANP, value, out, 10, 11);
  collect(UK, value, out, 10, 11);
}

export const phoneDetector: Detector = { category: 'phone', find: findPhones };
