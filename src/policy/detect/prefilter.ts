// The cheap gate in front of the detectors, on UTF-8 bytes without decoding: false means no detector
// can fire on this string (for a key that is not sensitive), so the wire walker can copy it verbatim.
// Every detector's syntax is ASCII and UTF-8 never puts ASCII bytes inside a multi-byte character,
// so each check below is a necessary condition of one detector, tested on bytes exactly as on text:
//   email `@` · JWT `eyJ` · AWS `AKIA`/`ASIA` · GitHub `gh?_`/`github_` · Slack `xox`/`xapp` ·
//   PEM `-----` · card/SSN/phone a run of 4+ digits with no letter or digit on either side (every
//   accepted grouping has such a group: a card's first group, the SSN serial, the NANP line number) ·
//   international phone `+digit` · IBAN `[A-Z]{2}[0-9]{2}` · IPv4 three digit.digit joints ·
//   IPv6 `::` or 6 colons · name-based rules (sensitive names, query credentials, Bearer/Basic,
//   ya29) one of a few case-insensitive stems that every such name contains.
// The unit tests check it against every detector's positives and the PII corpus (no false negative).

/**
 * Stems, lower case, each with the bytes that may follow it (none: anything). Every sensitive name
 * (sensitive-key.ts), query credential name (url-query-secret.ts), auth scheme and token prefix
 * contains one of them. Names are matched after decoding `%5F`, `%2D`, `%2E`, `%5B`, `%5D`, so those
 * escapes are triggers of their own.
 */
const NAME_END = '=%]';
const STEMS: [string, string?][] = [
  ['passw'],
  ['passp'],
  ['pwd'],
  ['secret'],
  ['token'],
  ['api_k'],
  ['api-k'],
  ['apik'],
  ['authorization'],
  ['cookie'],
  ['ssn'],
  ['private'],
  ['signature'],
  ['credential'],
  ['sessid'],
  ['access_k'],
  ['accessk'],
  ['signing_k'],
  ['assertion'],
  ['sig', NAME_END],
  ['key', NAME_END],
  ['auth', NAME_END],
  ['pass', NAME_END],
  ['session', NAME_END + 'i_'],
  ['bearer'],
  ['basic'],
  ['ya29'],
  ['%5f'],
  ['%2d'],
  ['%2e'],
  ['%5b'],
  ['%5d'],
];

const LOWER = new Uint8Array(256);
for (let b = 0; b < 256; b++) LOWER[b] = b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
const toBytes = (s: string): Uint8Array => Uint8Array.from(s, (ch) => ch.charCodeAt(0));

// Stems grouped by first (lower-case) byte, flattened for a tight loop: for each first byte the
// indices into STEM_BYTES/STEM_NEXT.
const STEM_BYTES: Uint8Array[] = STEMS.map(([s]) => toBytes(s));
const STEM_NEXT: (Uint8Array | null)[] = STEMS.map(([, n]) => (n === undefined ? null : toBytes(n)));
const BY_FIRST: number[][] = Array.from({ length: 256 }, () => []);
STEM_BYTES.forEach((b, i) => BY_FIRST[b[0]!]!.push(i));

// Lower-case byte pairs that begin a stem (first * 256 + second): most stem-letter positions stop here.
const PAIRS = new Uint8Array(65536);
for (const b of STEM_BYTES) PAIRS[b[0]! * 256 + b[1]!] = 1;
// For secretTriggers: the stems' first three lower-case bytes, hashed into a 32 KiB bitmap (every stem
// has at least three bytes). Most letter pairs that begin a stem begin ordinary words too (`se`rver,
// `co`de, `pa`th); the third byte rules nearly all of them out before stemAt compares whole stems. A
// hash collision only costs a stemAt call, never a missed stem.
const TRI_MASK = (1 << 18) - 1;
const triHash = (a: number, b: number, c: number): number => (Math.imul((a << 16) | (b << 8) | c, 0x9e3779b1) >>> 14) & TRI_MASK;
const TRI_BITS = new Int32Array((TRI_MASK + 1) >>> 5);
for (const b of STEM_BYTES) {
  const h = triHash(b[0]!, b[1]!, b[2]!);
  TRI_BITS[h >>> 5]! |= 1 << (h & 31);
}

// What a byte may start: 1 digit, 2 other trigger, 3 stem only (letters that begin a stem).
const KIND = new Uint8Array(256);
for (let b = 0x30; b <= 0x39; b++) KIND[b] = 1;
for (const b of [0x2d, 0x40, 0x3a, 0x65, 0x41, 0x67, 0x78]) KIND[b] = 2; // - @ : e A g x
for (let b = 0; b < 256; b++) if (KIND[b] === 0 && BY_FIRST[LOWER[b]!]!.length > 0) KIND[b] = 3;
// Bytes that begin a stem (any case): the kind-2 letters `e`, `g`, `x` and the other trigger bytes
// begin none, so secretTriggers skips the stem lookup on them.
const STEM_FIRST = new Uint8Array(256);
for (let b = 0; b < 256; b++) if (BY_FIRST[LOWER[b]!]!.length > 0) STEM_FIRST[b] = 1;

function stemAt(buf: Uint8Array, i: number, end: number, first: number): boolean {
  const list = BY_FIRST[first]!;
  for (let n = 0; n < list.length; n++) {
    const idx = list[n]!;
    const bytes = STEM_BYTES[idx]!;
    const len = bytes.length;
    if (i + len > end) continue;
    let k = 1;
    while (k < len && LOWER[buf[i + k]!] === bytes[k]) k++;
    if (k < len) continue;
    const next = STEM_NEXT[idx];
    if (next === null) return true;
    if (i + len < end && next.includes(LOWER[buf[i + len]!]!)) return true;
  }
  return false;
}

const isAlnumByte = (b: number): boolean => (b >= 0x30 && b <= 0x39) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7a);

/** Whether buf[start, end) (UTF-8) may hold a secret any detector would find. */
export function mayContainSecret(buf: Uint8Array, start: number, end: number): boolean {
  let digits = 0; // current run of digits
  let leftOk = false; // the current digit run starts at a boundary (no ASCII letter or digit before)
  let joints = 0; // digit '.' digit occurrences
  let colons = 0;
  let dashes = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    const kind = KIND[b]!;
    if (digits >= 4 && leftOk && kind !== 1 && !isAlnumByte(b)) return true; // a bounded run of 4+ digits
    if (kind === 0) {
      digits = 0;
      dashes = 0;
      continue;
    }
    if (kind === 1) {
      if (digits++ === 0) leftOk = i === start || !isAlnumByte(buf[i - 1]!);
      if (i - 2 >= start && buf[i - 1] === 0x2e && buf[i - 2]! >= 0x30 && buf[i - 2]! <= 0x39 && ++joints >= 3) return true;
      if (i > start && buf[i - 1] === 0x2b) return true; // +digit
      // IBAN head: two upper-case letters, two digits.
      if (digits === 2 && i - 3 >= start && buf[i - 2]! >= 0x41 && buf[i - 2]! <= 0x5a && buf[i - 3]! >= 0x41 && buf[i - 3]! <= 0x5a) return true;
      dashes = 0;
      continue;
    }
    digits = 0;
    if (b === 0x2d) {
      if (++dashes >= 5) return true; // PEM armour
      continue;
    }
    dashes = 0;
    if (kind === 2) {
      switch (b) {
        case 0x40: // @
          return true;
        case 0x3a: // :
          if (++colons >= 6 || (i > start && buf[i - 1] === 0x3a)) return true;
          continue;
        case 0x65: // eyJ
          if (i + 2 < end && buf[i + 1] === 0x79 && buf[i + 2] === 0x4a) return true;
          break;
        case 0x41: // AKIA / ASIA
          if (i + 3 < end && (buf[i + 1] === 0x4b || buf[i + 1] === 0x53) && buf[i + 2] === 0x49 && buf[i + 3] === 0x41) return true;
          break;
        case 0x67: // gh?_ / github_
          if (i + 3 < end && buf[i + 1] === 0x68 && buf[i + 3] === 0x5f) return true;
          if (i + 6 < end && buf[i + 1] === 0x69 && buf[i + 2] === 0x74 && buf[i + 3] === 0x68 && buf[i + 6] === 0x5f) return true;
          break;
        case 0x78: // xox / xapp
          if (i + 2 < end && buf[i + 1] === 0x6f && buf[i + 2] === 0x78) return true;
          if (i + 3 < end && buf[i + 1] === 0x61 && buf[i + 2] === 0x70 && buf[i + 3] === 0x70) return true;
          break;
      }
    }
    if (i + 1 < end) {
      const first = LOWER[b]!;
      if (PAIRS[first * 256 + LOWER[buf[i + 1]!]!] === 1 && stemAt(buf, i, end, first)) return true;
    }
  }
  return digits >= 4 && leftOk;
}

/**
 * The triggers of mayContainSecret as bits, one per detector family's necessary condition, so that a
 * redactor runs only the detectors whose condition a string meets (most strings that pass the gate
 * meet one or two: a UUID only the digit run, a URL only a name stem).
 */
export const Trigger = {
  /** A bounded run of 4+ digits (cards, SSNs, phone numbers). */
  DIGITS: 1,
  /** `+digit` (international phone numbers). */
  PLUS_DIGIT: 2,
  /** `[A-Z]{2}[0-9]{2}` (IBAN). */
  IBAN: 4,
  /** Three digit.digit joints (IPv4). */
  IPV4: 8,
  /** `::` or six colons (IPv6). */
  IPV6: 16,
  /** `@` (e-mail). */
  AT: 32,
  /** `eyJ` (JWT). */
  JWT: 64,
  /** `AKIA` / `ASIA` (AWS access key ids). */
  AKIA: 128,
  /** `gh?_` / `github_` (GitHub tokens). */
  GITHUB: 256,
  /** `xox` / `xapp` (Slack tokens). */
  SLACK: 512,
  /** Five dashes (PEM armour). */
  PEM: 1024,
  /** A name stem (sensitive names, query credentials, auth schemes, ya29). */
  STEM: 2048,
  /** DIGITS, and 8+ digits in all (an SSN has 9, a phone number 8 or more). */
  DIGITS_8: 4096,
  /** DIGITS, and 13+ digits in all (a card number has 13 to 19). */
  DIGITS_13: 8192,
} as const;

/** Every trigger: run every detector (a sensitive key, or no byte scan). */
export const ALL_TRIGGERS = 16383;

/** Which triggers can precede a finding of each built-in category (mirrors the checks above). */
export const CATEGORY_TRIGGERS: Readonly<Record<string, number>> = {
  private_key: Trigger.PEM,
  jwt: Trigger.JWT,
  github_token: Trigger.GITHUB,
  slack_token: Trigger.SLACK,
  aws_access_key_id: Trigger.AKIA,
  aws_secret_key: Trigger.STEM,
  credit_card: Trigger.DIGITS_13,
  iban: Trigger.IBAN,
  us_ssn: Trigger.DIGITS_8,
  email: Trigger.AT,
  ipv6: Trigger.IPV6,
  ipv4: Trigger.IPV4,
  phone: Trigger.DIGITS_8 | Trigger.PLUS_DIGIT,
  bearer_token: Trigger.STEM,
  url_query_secret: Trigger.STEM,
  password_by_key: Trigger.STEM,
};

/** The Trigger bits buf[start, end) meets (0: no detector can fire; the same test as mayContainSecret). */
export function secretTriggers(buf: Uint8Array, start: number, end: number): number {
  let bits = 0;
  let total = 0; // digits in the whole string
  let digits = 0;
  let leftOk = false;
  let joints = 0;
  let colons = 0;
  let dashes = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    const kind = KIND[b]!;
    if (digits >= 4 && leftOk && kind !== 1 && !isAlnumByte(b)) bits |= Trigger.DIGITS;
    if (kind === 0) {
      digits = 0;
      dashes = 0;
      continue;
    }
    if (kind === 3) {
      // A letter that only begins a stem (the common case after kind 0): the stem test alone.
      digits = 0;
      dashes = 0;
      if ((bits & Trigger.STEM) === 0 && i + 2 < end) {
        const first = LOWER[b]!;
        const second = LOWER[buf[i + 1]!]!;
        if (PAIRS[first * 256 + second] === 1) {
          const h = triHash(first, second, LOWER[buf[i + 2]!]!);
          if ((TRI_BITS[h >>> 5]! & (1 << (h & 31))) !== 0 && stemAt(buf, i, end, first)) bits |= Trigger.STEM;
        }
      }
      continue;
    }
    if (kind === 1) {
      total++;
      if (digits++ === 0) leftOk = i === start || !isAlnumByte(buf[i - 1]!);
      if (i - 2 >= start && buf[i - 1] === 0x2e && buf[i - 2]! >= 0x30 && buf[i - 2]! <= 0x39 && ++joints >= 3) bits |= Trigger.IPV4;
      if (i > start && buf[i - 1] === 0x2b) bits |= Trigger.PLUS_DIGIT;
      if (digits === 2 && i - 3 >= start && buf[i - 2]! >= 0x41 && buf[i - 2]! <= 0x5a && buf[i - 3]! >= 0x41 && buf[i - 3]! <= 0x5a) bits |= Trigger.IBAN;
      dashes = 0;
      continue;
    }
    digits = 0;
    if (b === 0x2d) {
      if (++dashes >= 5) bits |= Trigger.PEM;
      continue;
    }
    dashes = 0;
    if (kind === 2) {
      switch (b) {
        case 0x40:
          bits |= Trigger.AT;
          continue;
        case 0x3a:
          if (++colons >= 6 || (i > start && buf[i - 1] === 0x3a)) bits |= Trigger.IPV6;
          continue;
        case 0x65:
          if (i + 2 < end && buf[i + 1] === 0x79 && buf[i + 2] === 0x4a) bits |= Trigger.JWT;
          break;
        case 0x41:
          if (i + 3 < end && (buf[i + 1] === 0x4b || buf[i + 1] === 0x53) && buf[i + 2] === 0x49 && buf[i + 3] === 0x41) bits |= Trigger.AKIA;
          break;
        case 0x67:
          if (i + 3 < end && buf[i + 1] === 0x68 && buf[i + 3] === 0x5f) bits |= Trigger.GITHUB;
          if (i + 6 < end && buf[i + 1] === 0x69 && buf[i + 2] === 0x74 && buf[i + 3] === 0x68 && buf[i + 6] === 0x5f) bits |= Trigger.GITHUB;
          break;
        case 0x78:
          if (i + 2 < end && buf[i + 1] === 0x6f && buf[i + 2] === 0x78) bits |= Trigger.SLACK;
          if (i + 3 < end && buf[i + 1] === 0x61 && buf[i + 2] === 0x70 && buf[i + 3] === 0x70) bits |= Trigger.SLACK;
          break;
      }
    }
    if (STEM_FIRST[b] === 1 && (bits & Trigger.STEM) === 0 && i + 2 < end) {
      const first = LOWER[b]!;
      const second = LOWER[buf[i + 1]!]!;
      if (PAIRS[first * 256 + second] === 1) {
        const h = triHash(first, second, LOWER[buf[i + 2]!]!);
        if ((TRI_BITS[h >>> 5]! & (1 << (h & 31))) !== 0 && stemAt(buf, i, end, first)) bits |= Trigger.STEM;
      }
    }
  }
  if (digits >= 4 && leftOk) bits |= Trigger.DIGITS;
  if ((bits & Trigger.DIGITS) !== 0) {
    if (total >= 8) bits |= Trigger.DIGITS_8;
    if (total >= 13) bits |= Trigger.DIGITS_13;
  }
  return bits;
}
