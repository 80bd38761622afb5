// IP addresses. IPv4: dotted quads, each part 0–255 without leading zeros (RFC 3986 §3.2.2
// dec-octet), alone, with `:port`, in URLs and forwarding headers. Four dotted numbers are also a common
// version/build-number shape, so values under version or build keys are exempt (the corpus README's
// rule: the key's last segment ends in `version`, or the key contains `build`).
// IPv6: every RFC 4291 §2.2 text form — full, compressed (`::`), with an embedded IPv4 tail
// (`::ffff:198.51.100.7`, `2001:db8::192.0.2.33`), any letter case; in brackets with a port
// (RFC 3986 §3.2.2) the finding excludes the brackets and the port. Clock times and durations
// (`01:02:03.456`) have neither eight groups nor `::`, so they never parse.
import { codeAt, isAlnum, isDigit, isHex } from './chars.js';
import type { Detector, Finding } from './types.js';

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`(?<![0-9A-Za-z.])(?:${OCTET}\\.){3}${OCTET}(?![0-9A-Za-z]|\\.[0-9])`, 'g');

/** Keys whose values may hold four-part versions: last segment ends in `version`, or contains `build`. */
export function isVersionKey(key: string | undefined): boolean {
  if (key === undefined) return false;
  const k = key.toLowerCase();
  return k.endsWith('version') || k.includes('build');
}

export function findIpv4(value: string, out: Finding[], key?: string): void {
  if (isVersionKey(key)) return;
  IPV4.lastIndex = 0;
  for (let m = IPV4.exec(value); m !== null; m = IPV4.exec(value)) {
    out.push({ category: 'ipv4', start: m.index, end: m.index + m[0].length });
  }
}

/** Whether s[start, end) is a dotted-quad IPv4 address. */
function isIpv4At(s: string, start: number, end: number): boolean {
  let parts = 0;
  let i = start;
  while (i < end) {
    const ps = i;
    let n = 0;
    while (i < end && isDigit(s.charCodeAt(i)) && i - ps < 4) n = n * 10 + (s.charCodeAt(i++) - 0x30);
    const len = i - ps;
    if (len === 0 || len > 3 || n > 255 || (len > 1 && s.charCodeAt(ps) === 0x30)) return false;
    parts++;
    if (i === end) break;
    if (s.charCodeAt(i) !== 0x2e || parts === 4) return false;
    i++;
    if (i === end) return false;
  }
  return parts === 4;
}

/** Whether s[start, end) is an IPv6 address in any RFC 4291 text form (without zone or brackets). */
export function isIpv6At(s: string, start: number, end: number): boolean {
  const text = s.slice(start, end);
  const dbl = text.indexOf('::');
  if (dbl !== -1 && text.indexOf('::', dbl + 1) !== -1) return false;
  const countGroups = (part: string, allowV4Tail: boolean): number => {
    if (part === '') return 0;
    const groups = part.split(':');
    let n = 0;
    for (let g = 0; g < groups.length; g++) {
      const grp = groups[g]!;
      if (grp.includes('.')) {
        if (!allowV4Tail || g !== groups.length - 1 || !isIpv4At(grp, 0, grp.length)) return -1;
        n += 2;
        continue;
      }
      if (grp.length < 1 || grp.length > 4) return -1;
      for (let k = 0; k < grp.length; k++) if (!isHex(grp.charCodeAt(k))) return -1;
      n++;
    }
    return n;
  };
  if (dbl === -1) return countGroups(text, true) === 8;
  const head = countGroups(text.slice(0, dbl), false);
  const tail = countGroups(text.slice(dbl + 2), true);
  if (head < 0 || tail < 0) return false;
  if (head + tail > 7) return false;
  // `::` alone is the unspecified address: an operator in prose and code (`a :: b`), not PII.
  return head + tail > 0;
}

const MAX_IPV6 = 45; // 8 groups of 4 with an IPv4 tail: 39 + 6

function isRunChar(c: number): boolean {
  return isHex(c) || c === 0x3a || c === 0x2e;
}

export function findIpv6(value: string, out: Finding[]): void {
  let colon = value.indexOf(':');
  while (colon !== -1) {
    // Expand to the run of hex digits, colons and dots around this colon.
    let start = colon;
    while (start > 0 && isRunChar(value.charCodeAt(start - 1))) start--;
    let end = colon;
    while (end < value.length && isRunChar(value.charCodeAt(end))) end++;
    const next = end;
    // Glued to letters or digits outside the hex range (`routines::x`, `Foo::Bar`) it is a word.
    const before = codeAt(value, start - 1);
    const after = codeAt(value, end);
    if (!isAlnum(before) && before !== 0x5f && !isAlnum(after) && after !== 0x5f) {
      // Trailing sentence punctuation, then at most one `:port` that is not part of the address.
      while (end > start && value.charCodeAt(end - 1) === 0x2e) end--;
      if (end > start && value.charCodeAt(end - 1) === 0x3a && value.charCodeAt(end - 2) !== 0x3a) end--;
      if (end - start <= MAX_IPV6 + 6) {
        if (end - start <= MAX_IPV6 && isIpv6At(value, start, end)) {
          out.push({ category: 'ipv6', start, end });
        } else {
          const lastColon = value.lastIndexOf(':', end - 1);
          if (lastColon > start && value.charCodeAt(lastColon - 1) !== 0x3a && lastColon - start <= MAX_IPV6 && isIpv6At(value, start, lastColon)) {
            // An unbracketed `address:port`; only taken when the address alone is valid.
            let digitsOnly = lastColon + 1 < end;
            for (let k = lastColon + 1; k < end; k++) if (!isDigit(value.charCodeAt(k))) digitsOnly = false;
            if (digitsOnly) out.push({ category: 'ipv6', start, end: lastColon });
          }
        }
      }
    }
    colon = value.indexOf(':', next + 1);
  }
}

export const ipv4Detector: Detector = { category: 'ipv4', find: findIpv4 };
export const ipv6Detector: Detector = { category: 'ipv6', find: findIpv6 };
