// Payment card numbers (PANs): 13–19 digits that pass the Luhn check (ISO/IEC 7812-1 Annex B), either
// unseparated or printed in groups (4-4-4-4, 4-4-4-4-3, 4-6-5 for Amex, 4-6-4 for Diners) with single
// spaces or dashes, mixed freely. The first digit must be 2–6 (the card-issuing industries of the major
// identifier: Mastercard 2/5, Amex/JCB/Diners 3, Visa 4, Discover/UnionPay 6), which keeps epoch
// timestamps (1…) and zero-padded ids out. Luhn is what separates a card from a 16-digit order id.
import { codeAt, isAlnum, isDigit } from './chars.js';
import type { Detector, Finding } from './types.js';

/** Luhn (mod 10) check over the digits of s[start, end), skipping anything that is not a digit. */
export function luhnValid(s: string, start = 0, end = s.length): boolean {
  let sum = 0;
  let double = false;
  let n = 0;
  for (let i = end - 1; i >= start; i--) {
    const c = s.charCodeAt(i);
    if (!isDigit(c)) continue;
    let d = c - 0x30;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
    n++;
  }
  return n > 0 && sum % 10 === 0;
}

function groupingOk(lengths: number[], from: number, to: number): boolean {
  const count = to - from;
  if (count === 1) return true; // unseparated
  if (count === 3) {
    const a = lengths[from]!;
    const b = lengths[from + 1]!;
    const c = lengths[from + 2]!;
    if (a === 4 && b === 6 && (c === 5 || c === 4)) return true;
  }
  for (let g = from; g < to - 1; g++) if (lengths[g] !== 4) return false;
  const last = lengths[to - 1]!;
  return last >= 1 && last <= 4;
}

// The groups of the current run (start, length), reused across calls: a detector runs on one string at
// a time, and these are overwritten (never cleared) for each run.
const starts: number[] = [];
const lengths: number[] = [];

export function findPaymentCards(value: string, out: Finding[]): void {
  const n = value.length;
  let i = 0;
  while (i < n) {
    const c = value.charCodeAt(i);
    if (!isDigit(c) || isAlnum(codeAt(value, i - 1))) {
      i++;
      continue;
    }
    // A run of digit groups joined by single spaces or dashes.
    let groups = 0;
    let j = i;
    for (;;) {
      const gs = j;
      while (j < n && isDigit(value.charCodeAt(j))) j++;
      starts[groups] = gs;
      lengths[groups] = j - gs;
      groups++;
      const sep = codeAt(value, j);
      if ((sep === 0x20 || sep === 0x2d) && isDigit(codeAt(value, j + 1))) j++;
      else break;
    }
    const runEnd = j;
    const rightOk = !isAlnum(codeAt(value, runEnd));
    // Windows of consecutive groups: the earliest start, then the longest valid window. Each window
    // holds at most 19 digits, so the work stays linear in the run length.
    let g = 0;
    while (g < groups) {
      let found = -1;
      let digits = 0;
      for (let h = g; h < groups; h++) {
        digits += lengths[h]!;
        if (digits > 19) break;
        if (digits < 13) continue;
        const wStart = starts[g]!;
        const wEnd = starts[h]! + lengths[h]!;
        if (h === groups - 1 && !rightOk) continue;
        const first = value.charCodeAt(wStart);
        if (first < 0x32 || first > 0x36) continue;
        if (!groupingOk(lengths, g, h + 1)) continue;
        if (!luhnValid(value, wStart, wEnd)) continue;
        found = h;
      }
      if (found !== -1) {
        out.push({ category: 'credit_card', start: starts[g]!, end: starts[found]! + lengths[found]! });
        g = found + 1;
      } else {
        g++;
      }
    }
    i = runEnd + 1;
  }
  // Do not keep what a huge run of groups grew.
  if (starts.length > 1024) starts.length = lengths.length = 0;
}

export const paymentCardDetector: Detector = { category: 'credit_card', find: findPaymentCards };
