// GitHub tokens (https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/):
// classic tokens are a prefix (`ghp_` personal, `gho_` OAuth, `ghu_` user-to-server, `ghs_`
// server-to-server, `ghr_` refresh) + 30 random base62 characters + a 6-character checksum, the CRC32 of
// those 30 characters in base62 (0-9A-Za-z), zero-padded. The checksum makes a false positive
// practically impossible. Fine-grained personal access tokens are `github_pat_` + 22 + `_` + 59
// characters (lengths are accepted with some slack; the prefix alone is distinctive).
import type { Detector, Finding } from './types.js';

const CLASSIC = /(?<![A-Za-z0-9_])gh[pousr]_([A-Za-z0-9]{36})(?![A-Za-z0-9_])/g;
const FINE_GRAINED = /(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9]{16,40}_[A-Za-z0-9]{40,100}(?![A-Za-z0-9_])/g;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

let crcTable: Uint32Array | undefined;
function table(): Uint32Array {
  if (crcTable) return crcTable;
  crcTable = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crcTable[n] = c >>> 0;
  }
  return crcTable;
}

/** CRC-32 (IEEE 802.3, as zlib) of the ASCII string s[start, end). */
export function crc32(s: string, start = 0, end = s.length): number {
  const t = table();
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = t[(c ^ s.charCodeAt(i)) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Whether the 36 characters after the prefix end in the base62 CRC32 of the first 30. */
export function githubChecksumValid(body: string): boolean {
  if (body.length !== 36) return false;
  let n = crc32(body, 0, 30);
  for (let i = 35; i >= 30; i--) {
    if (body.charCodeAt(i) !== BASE62.charCodeAt(n % 62)) return false;
    n = Math.floor(n / 62);
  }
  return n === 0;
}

export function findGithubTokens(value: string, out: Finding[]): void {
  if (value.indexOf('gh') !== -1) {
    CLASSIC.lastIndex = 0;
    for (let m = CLASSIC.exec(value); m !== null; m = CLASSIC.exec(value)) {
      if (githubChecksumValid(m[1]!)) out.push({ category: 'github_token', start: m.index, end: m.index + m[0].length });
    }
  }
  if (value.indexOf('github_pat_') === -1) return;
  FINE_GRAINED.lastIndex = 0;
  for (let m = FINE_GRAINED.exec(value); m !== null; m = FINE_GRAINED.exec(value)) {
    out.push({ category: 'github_token', start: m.index, end: m.index + m[0].length });
  }
}

export const githubTokenDetector: Detector = { category: 'github_token', find: findGithubTokens };
