// US Social Security Numbers: `AAA-GG-SSSS` or `AAA GG SSSS` (one separator kind throughout). Only the
// ranges never valid in any era are refused (area 000 or 666, group 00, serial 0000; SSA, "Social
// Security Number Randomization"); 9xx areas are accepted on purpose, because test data and ITIN-like
// values use them. A bare nine-digit number is only an SSN under an SSN key (sensitive-key.ts).
import { isDigit } from './chars.js';
import type { Detector, Finding } from './types.js';

// Not inside a longer digit/letter token, nor a link in a longer dash/dot/space chain of numbers.
const SSN = /(?<![0-9A-Za-z])(?<![0-9][-. ])([0-9]{3})([- ])([0-9]{2})\2([0-9]{4})(?![0-9A-Za-z])(?![-. ][0-9])/g;

/**
 * A necessary condition of a match, far cheaper than the regex (two lookbehinds tried at every
 * position): somewhere `ddd` + separator + `dd` + the same separator + `dddd`. Phone numbers
 * (`415-555-0123`) and grouped card numbers (`4111 1111 …`) fail it at once.
 */
function mayHoldSsn(value: string): boolean {
  const last = value.length - 8; // the first separator at i needs i + 7 < value.length
  for (let i = 3; i <= last; i++) {
    const c = value.charCodeAt(i);
    if ((c !== 0x2d && c !== 0x20) || value.charCodeAt(i + 3) !== c) continue;
    if (
      isDigit(value.charCodeAt(i - 1)) &&
      isDigit(value.charCodeAt(i - 2)) &&
      isDigit(value.charCodeAt(i - 3)) &&
      isDigit(value.charCodeAt(i + 1)) &&
      isDigit(value.charCodeAt(i + 2)) &&
      isDigit(value.charCodeAt(i + 4)) &&
      isDigit(value.charCodeAt(i + 5)) &&
      isDigit(value.charCodeAt(i + 6)) &&
      isDigit(value.charCodeAt(i + 7))
    )
      return true;
  }
  return false;
}

export function findUsSsns(value: string, out: Finding[]): void {
  if (!mayHoldSsn(value)) return;
  SSN.lastIndex = 0;
  for (let m = SSN.exec(value); m !== null; m = SSN.exec(value)) {
    const area = m[1]!;
    if (area === '000' || area === '666' || m[3] === '00' || m[4] === '0000') continue;
    out.push({ category: 'us_ssn', start: m.index, end: m.index + m[0].length });
  }
}

export const usSsnDetector: Detector = { category: 'us_ssn', find: findUsSsns };
