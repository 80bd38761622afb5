// E-mail addresses: local@domain with a dotted domain whose last label is alphabetic (a TLD).
// Scanned outwards from each `@` with bounded loops (local part <= 64, domain <= 253 characters,
// RFC 5321 §4.5.3.1) instead of a regex, so the cost is linear whatever the input. The at sign may be
// percent-encoded (`%40`, RFC 3986 §2.1): an address in a URL is as much an address. `@scope/pkg@1.2.3`
// and `name@sha256:<hex>` fail the TLD rule; `user@host` (no dot) is not an address here.
import { codeAt, isAlnum, isAlpha } from './chars.js';
import type { Detector, Finding } from './types.js';

const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;

function isLocalChar(c: number): boolean {
  // RFC 5322 dot-atom characters that occur in practice; quotes and the rarer atext symbols are left out.
  return isAlnum(c) || c === 0x2e || c === 0x5f || c === 0x25 || c === 0x2b || c === 0x2d;
}

/** End of the domain starting at `from`, or -1 when it is not label(.label)+ with an alphabetic TLD. */
function domainEnd(s: string, from: number): number {
  let i = from;
  let labels = 0;
  let lastLabelStart = from;
  let end = -1;
  const limit = Math.min(s.length, from + MAX_DOMAIN);
  while (i < limit) {
    const labelStart = i;
    while (i < limit && (isAlnum(s.charCodeAt(i)) || s.charCodeAt(i) === 0x2d) && i - labelStart < 63) i++;
    if (i === labelStart) break;
    labels++;
    lastLabelStart = labelStart;
    end = i;
    // A dot continues the domain only when a label follows (a trailing dot ends a sentence).
    if (codeAt(s, i) === 0x2e && isAlnum(codeAt(s, i + 1))) i++;
    else break;
  }
  if (labels < 2) return -1;
  // The TLD: letters (2+), or an IDN A-label (xn--…).
  const tldLen = end - lastLabelStart;
  if (tldLen < 2) return -1;
  if (s.startsWith('xn--', lastLabelStart)) return end;
  for (let k = lastLabelStart; k < end; k++) if (!isAlpha(s.charCodeAt(k))) return -1;
  return end;
}

export function findEmails(value: string, out: Finding[]): void {
  // The at sign may be `@` or its percent-encoded form `%40` (an address in a URL query or path,
  // `?email=alice%40example.com`). Each form's next position is looked up only once it has been passed,
  // so the scan stays linear whatever the input (`a@a@a@…` with no `%40`).
  let plain = value.indexOf('@');
  let enc = value.indexOf('%40');
  while (plain !== -1 || enc !== -1) {
    const encoded = plain === -1 || (enc !== -1 && enc < plain);
    const at = encoded ? enc : plain;
    const width = encoded ? 3 : 1;
    let start = at;
    while (start > 0 && at - start < MAX_LOCAL && isLocalChar(value.charCodeAt(start - 1))) start--;
    while (start < at && value.charCodeAt(start) === 0x2e) start++; // no leading dot
    let next = at + width;
    if (start < at) {
      const end = domainEnd(value, at + width);
      if (end !== -1) {
        out.push({ category: 'email', start, end });
        next = end;
      }
    }
    if (plain !== -1 && plain < next) plain = value.indexOf('@', next);
    if (enc !== -1 && enc < next) enc = value.indexOf('%40', next);
  }
}

export const emailDetector: Detector = { category: 'email', find: findEmails };
