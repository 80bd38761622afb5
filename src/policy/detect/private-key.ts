// PEM private key blocks (RFC 7468 §10/§11, OpenSSH's PROTOCOL.key, RFC 4880 armor for PGP):
// `-----BEGIN <label>PRIVATE KEY-----` … `-----END …-----`, with RSA, EC, DSA, OPENSSH, ENCRYPTED and PGP
// labels. The finding is the body between the BEGIN and END lines (base64 lines and any legacy
// `Proc-Type`/`DEK-Info` headers); the armour lines are not secret. Lines may be separated by real
// newlines or by the two characters `\n` (a key pasted into an environment variable or a JSON string).
// A block cut off before its END line (a truncated attribute) still has its body redacted.
import { isAlnum } from './chars.js';
import type { Detector, Finding } from './types.js';

const BEGIN = '-----BEGIN ';
const END = '-----END';
const MAX_LABEL = 48;

function isBase64(c: number): boolean {
  return isAlnum(c) || c === 0x2b || c === 0x2f || c === 0x3d;
}

/** Length of a line separator at i: whitespace, or a literal `\n` / `\r` / `\t`; 0 when none. */
function separatorAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x0a || c === 0x0d || c === 0x20 || c === 0x09) return 1;
  if (c === 0x5c) {
    const d = s.charCodeAt(i + 1);
    if (d === 0x6e || d === 0x72 || d === 0x74) return 2;
  }
  return 0;
}

export function findPrivateKeys(value: string, out: Finding[]): void {
  let begin = value.indexOf(BEGIN);
  let nextEnd = -2; // -2: not searched yet; -1: there is none after the last search position
  while (begin !== -1) {
    const labelStart = begin + BEGIN.length;
    const labelEnd = value.indexOf('-----', labelStart);
    if (labelEnd === -1) return;
    const label = value.slice(labelStart, labelEnd);
    if (labelEnd - labelStart > MAX_LABEL || !/^(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?$/.test(label)) {
      begin = value.indexOf(BEGIN, labelStart);
      continue;
    }
    let bodyStart = labelEnd + 5;
    for (let k = separatorAt(value, bodyStart); k > 0; k = separatorAt(value, bodyStart)) bodyStart += k;
    if (nextEnd !== -1 && nextEnd < bodyStart) nextEnd = value.indexOf(END, bodyStart);
    let bodyEnd: number;
    if (nextEnd !== -1) {
      bodyEnd = nextEnd;
    } else {
      // No END line: the body runs while it looks like base64 lines.
      bodyEnd = bodyStart;
      for (;;) {
        if (isBase64(value.charCodeAt(bodyEnd))) bodyEnd++;
        else {
          const k = separatorAt(value, bodyEnd);
          if (k === 0) break;
          bodyEnd += k;
        }
      }
    }
    // Trim the separators before the END line.
    let trimmed = bodyEnd;
    for (;;) {
      const c = value.charCodeAt(trimmed - 1);
      if (trimmed > bodyStart && (c === 0x0a || c === 0x0d || c === 0x20 || c === 0x09)) trimmed--;
      else if (trimmed - 1 > bodyStart && value.charCodeAt(trimmed - 2) === 0x5c && (c === 0x6e || c === 0x72 || c === 0x74)) trimmed -= 2;
      else break;
    }
    if (trimmed > bodyStart) out.push({ category: 'private_key', start: bodyStart, end: trimmed });
    begin = value.indexOf(BEGIN, Math.max(bodyEnd, labelEnd));
  }
}

export const privateKeyDetector: Detector = { category: 'private_key', find: findPrivateKeys };
