// International Bank Account Numbers (ISO 13616): country code, two check digits, a BBAN of 11–30
// letters and digits, 15–34 characters in all; the check digits make the whole number ≡ 1 (mod 97)
// once the first four characters are moved to the end and letters become 10–35. Electronic form
// (`DE89370400440532013000`) or print form (groups of four separated by single spaces, the last
// group shorter: `DE89 3704 0044 0532 0130 00`).
import type { Detector, Finding } from './types.js';

const ELECTRONIC = /(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}(?![A-Za-z0-9])/g;
// Print form: a head (`DE89`) followed by a space and a group; the groups are parsed in code.
const PRINT_HEAD = /(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?= [A-Z0-9])/g;
const MAX_GROUPS = 8; // 30 BBAN characters in groups of four

const isIbanChar = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a);
const isAlnumCode = (c: number): boolean => isIbanChar(c) || (c >= 0x61 && c <= 0x7a);

/** ISO 7064 MOD 97-10 check of an IBAN in s[start, end), spaces skipped (upper-case letters and digits). */
export function ibanChecksumValid(s: string, start = 0, end = s.length): boolean {
  // Rearranged: the BBAN first, then the country code and check digits; letters count as 10–35.
  let rem = 0;
  let len = 0;
  let headEnd = start;
  for (let seen = 0; headEnd < end && seen < 4; headEnd++) if (s.charCodeAt(headEnd) !== 0x20) seen++;
  for (let pass = 0; pass < 2; pass++) {
    const from = pass === 0 ? headEnd : start;
    const to = pass === 0 ? end : headEnd;
    for (let i = from; i < to; i++) {
      const c = s.charCodeAt(i);
      if (c === 0x20) continue;
      rem = c <= 0x39 ? (rem * 10 + (c - 0x30)) % 97 : (rem * 100 + (c - 0x37)) % 97;
      len++;
    }
  }
  return len >= 15 && len <= 34 && rem === 1;
}

export function findIbans(value: string, out: Finding[]): void {
  ELECTRONIC.lastIndex = 0;
  for (let m = ELECTRONIC.exec(value); m !== null; m = ELECTRONIC.exec(value)) {
    if (ibanChecksumValid(value, m.index, m.index + m[0].length)) out.push({ category: 'iban', start: m.index, end: m.index + m[0].length });
  }
  PRINT_HEAD.lastIndex = 0;
  const ends: number[] = [];
  for (let m = PRINT_HEAD.exec(value); m !== null; m = PRINT_HEAD.exec(value)) {
    // Group ends after the head: ` XXXX` repeated; every group but the last has four characters.
    ends.length = 0;
    let i = m.index + 4;
    while (ends.length < MAX_GROUPS && value.charCodeAt(i) === 0x20 && isIbanChar(value.charCodeAt(i + 1))) {
      let j = i + 1;
      while (j - i <= 4 && isIbanChar(value.charCodeAt(j))) j++;
      if (isIbanChar(value.charCodeAt(j))) break; // a five-character token is no IBAN group
      const len = j - i - 1;
      ends.push(j);
      i = j;
      if (len < 4) break;
    }
    // The mod-97 remainder of the BBAN grows group by group; appending the head to it checks each
    // window in O(1), and the longest valid window (with a boundary after it) wins.
    let rem = 0;
    let chars = 4;
    let best = -1;
    let pos = m.index + 5;
    for (let g = 0; g < ends.length; g++) {
      const end = ends[g]!;
      for (; pos < end; pos++) {
        const c = value.charCodeAt(pos);
        rem = c <= 0x39 ? (rem * 10 + (c - 0x30)) % 97 : (rem * 100 + (c - 0x37)) % 97;
        chars++;
      }
      pos = end + 1;
      if (g < 2 || chars < 15 || isAlnumCode(value.charCodeAt(end))) continue;
      let full = rem;
      for (let h = m.index; h < m.index + 4; h++) {
        const c = value.charCodeAt(h);
        full = c <= 0x39 ? (full * 10 + (c - 0x30)) % 97 : (full * 100 + (c - 0x37)) % 97;
      }
      if (full === 1) best = end;
    }
    if (best !== -1) {
      out.push({ category: 'iban', start: m.index, end: best });
      PRINT_HEAD.lastIndex = best;
    }
  }
}

export const ibanDetector: Detector = { category: 'iban', find: findIbans };
