// JSON Web Tokens in compact JWS form (RFC 7515 §7.1): three base64url segments joined by dots, the
// header and the payload both JSON objects, so both start `eyJ` (base64 of `{"`). A base64 JSON cursor
// without dots is not a JWT. The match starts only where a base64url run starts (or right after a
// %XX escape such as `Bearer%20`), so every run is scanned once: linear time on any input.
import type { Detector, Finding } from './types.js';

const JWT = /(?:(?<![A-Za-z0-9_-])|(?<=%[0-9A-Fa-f]{2}))eyJ[A-Za-z0-9_-]{1,8192}\.eyJ[A-Za-z0-9_-]{1,16384}\.[A-Za-z0-9_-]{0,8192}/g;

export function findJwts(value: string, out: Finding[]): void {
  if (value.indexOf('eyJ') === -1) return;
  JWT.lastIndex = 0;
  for (let m = JWT.exec(value); m !== null; m = JWT.exec(value)) {
    out.push({ category: 'jwt', start: m.index, end: m.index + m[0].length });
  }
}

export const jwtDetector: Detector = { category: 'jwt', find: findJwts };
