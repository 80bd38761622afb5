// Character tests on UTF-16 code units. Every detector's syntax is ASCII; a non-ASCII neighbour
// (`Zoë`, `„`) counts as a boundary, like punctuation.

export const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
export const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a;
export const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a;
export const isAlpha = (c: number): boolean => isUpper(c) || isLower(c);
export const isAlnum = (c: number): boolean => isDigit(c) || isAlpha(c);
export const isHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** The code unit at i, or -1 outside the string (so boundary checks need no range test). */
export function codeAt(s: string, i: number): number {
  return i >= 0 && i < s.length ? s.charCodeAt(i) : -1;
}

/** Lower-cases a name for matching (never for offsets); no allocation when it is lower-case already. */
export function lowerName(s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (isUpper(s.charCodeAt(i))) return s.toLowerCase();
  }
  return s;
}
