// US Social Security Numbers: `AAA-GG-SSSS` or `AAA GG SSSS` (one separator kind throughout). Only the
// ranges never valid in any era are refused (area 000 or 666, group 00, serial 0000; SSA, "Social
// Security Number Randomization"); 9xx areas are accepted on purpose, because test data and ITIN-like
// values use them. A bare nine-digit number is only an SSN under an SSN key (sensitive-key.ts).
import type { Detector, Finding } from './types.js';

// Not inside a longer digit/letter token, nor a link in a longer dash/dot/space chain of numbers.
const SSN = /(?<![0-9A-Za-z])(?<![0-9][-. ])([0-9]{3})([- ])([0-9]{2})\2([0-9]{4})(?![0-9A-Za-z])(?![-. ][0-9])/g;

/**
 * A necessary condition of a match, far cheaper than SSN (whose two lookbehinds are tried at every
 * position): somewhere `ddd` + separator + `dd` + the same separator + `dddd`. Phone numbers
 * (`415-555-0123`) and grouped card numbers (`4111 1111 …`) fail it at once. A regex without
 * lookarounds, because irregexp scans for it about twice as fast as a charCodeAt loop.
 */
const SSN_SHAPE = /[0-9]{3}(?:-[0-9]{2}-| [0-9]{2} )[0-9]{4}/;

export function findUsSsns(value: string, out: Finding[]): void {
  if (!SSN_SHAPE.test(value)) return;
  SSN.lastIndex = 0;
  for (let m = SSN.exec(value); m !== null; m = SSN.exec(value)) {
    const area = m[1]!;
    if (area === '000' || area === '666' || m[3] === '00' || m[4] === '0000') continue;
    out.push({ category: 'us_ssn', start: m.index, end: m.index + m[0].length });
  }
}

export const usSsnDetector: Detector = { category: 'us_ssn', find: findUsSsns };
