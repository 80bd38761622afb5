// The cheap gate in front of the detectors, on UTF-8 bytes without decoding: false means no detector
// can fire on this string (for a key that is not sensitive), so the wire walker can copy it verbatim.
// Every detector's syntax is ASCII and UTF-8 never puts ASCII bytes inside a multi-byte character,
// so each check below is a necessary condition of one detector, tested on bytes exactly as on text:
//   email `@` or `%40` · JWT `eyJ` · AWS `AKIA`/`ASIA` · GitHub `gh?_`/`github_` · Slack `xox`/`xapp` ·
//   PEM `-----` · card/SSN/phone a run of 4+ digits with no letter or digit on either side (every
//   accepted grouping has such a group: a card's first group, the SSN serial, the NANP line number) ·
//   international phone `+digit` (or `%2B`digit) · IBAN `[A-Z]{2}[0-9]{2}` · IPv4 three digit.digit joints ·
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
    if (b === 0x25 && i + 2 < end && buf[i + 1] === 0x34 && buf[i + 2] === 0x30) return true; // %40, an encoded @
    if (b === 0x25 && i + 3 < end && buf[i + 1] === 0x32 && (buf[i + 2]! | 0x20) === 0x62 && buf[i + 3]! >= 0x30 && buf[i + 3]! <= 0x39) return true; // %2B digit
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
  /** `+digit` or `%2Bdigit` (international phone numbers). */
  PLUS_DIGIT: 2,
  /** `[A-Z]{2}[0-9]{2}` (IBAN). */
  IBAN: 4,
  /** Three digit.digit joints (IPv4). */
  IPV4: 8,
  /** `::` or six colons (IPv6). */
  IPV6: 16,
  /** `@` or `%40` (e-mail). */
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

/**
 * secretTriggers the plain way, one byte at a time like mayContainSecret: the reference the automaton
 * is tested against (and what it replaced).
 */
export function secretTriggersReference(buf: Uint8Array, start: number, end: number): number {
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
    if (b === 0x25 && i + 2 < end && buf[i + 1] === 0x34 && buf[i + 2] === 0x30) bits |= Trigger.AT; // %40
    if (b === 0x25 && i + 3 < end && buf[i + 1] === 0x32 && (buf[i + 2]! | 0x20) === 0x62 && buf[i + 3]! >= 0x30 && buf[i + 3]! <= 0x39) bits |= Trigger.PLUS_DIGIT; // %2B digit
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

// ---- secretTriggers as one automaton ----
// The byte-at-a-time checks above branch on every byte's kind, and those branches are data-dependent:
// on real attribute values (ids, URLs, SQL) the CPU mispredicts them so often that mayContainSecret's
// loop costs several times a plain table walk (8 ns per byte on the bench's values here, against 3.3).
// secretTriggers instead runs a DFA built once per thread, on first use, from the same conditions
// written as byte patterns (stems with their case folded and their allowed next bytes, `eyJ`, `gh?_`,
// `[A-Z][A-Z][0-9][0-9]`, a bounded run of four digits, ...) by subset construction: per byte one class
// load and one transition load (which also carries the outputs) and two counts, with no branch. The
// counted conditions (IPv4 joints, colons, digits in all) are summed along the way. The unit tests
// check it against secretTriggersReference (the byte-at-a-time form) on the PII corpus and on random
// strings, and its union against mayContainSecret.

type ByteSet = Uint8Array;
function byteSet(test: (b: number) => boolean): ByteSet {
  const set = new Uint8Array(256);
  for (let b = 0; b < 256; b++) if (test(b)) set[b] = 1;
  return set;
}
const ANY_BYTE = byteSet(() => true);
const DIGIT_SET = byteSet((b) => b >= 0x30 && b <= 0x39);
const NON_ALNUM_SET = byteSet((b) => !isAlnumByte(b));
const UPPER_SET = byteSet((b) => b >= 0x41 && b <= 0x5a);
const foldedSets = new Map<number, ByteSet>();
const exactSets = new Map<number, ByteSet>();
/** A byte of a stem: itself, and its upper-case form for a letter (one set per byte, shared). */
function foldedSet(ch: number): ByteSet {
  let set = foldedSets.get(ch);
  if (set === undefined) foldedSets.set(ch, (set = byteSet((b) => LOWER[b] === ch)));
  return set;
}
function exactSet(ch: number): ByteSet {
  let set = exactSets.get(ch);
  if (set === undefined) exactSets.set(ch, (set = byteSet((b) => b === ch)));
  return set;
}
/** Output of an NFA state that marks one IPv4 joint (counted, not a trigger bit). */
const JOINT_OUT = 1 << 15;

interface Nfa {
  edges: { set: ByteSet; to: number }[][];
  out: number[];
}

function buildNfa(): { nfa: Nfa; start: number[]; digitsRun: number } {
  const nfa: Nfa = { edges: [], out: [] };
  const state = (out = 0): number => {
    nfa.edges.push([]);
    nfa.out.push(out);
    return nfa.edges.length - 1;
  };
  const S0 = state(); // anywhere in the string (searching)
  const B = state(); // right after the start or a byte that is not an ASCII letter or digit
  nfa.edges[S0]!.push({ set: ANY_BYTE, to: S0 }, { set: NON_ALNUM_SET, to: B });
  const pattern = (sets: ByteSet[], out: number): void => {
    let at = S0;
    for (let k = 0; k < sets.length; k++) {
      const next = state(k === sets.length - 1 ? out : 0);
      nfa.edges[at]!.push({ set: sets[k]!, to: next });
      at = next;
    }
  };
  for (let n = 0; n < STEMS.length; n++) {
    const stem = [...STEM_BYTES[n]!].map(foldedSet);
    const after = STEM_NEXT[n];
    pattern(after === null ? stem : [...stem, byteSet((b) => after.includes(LOWER[b]!))], Trigger.STEM);
  }
  const text = (t: string, out: number): void => pattern([...t].map((c) => (c === '?' ? ANY_BYTE : exactSet(c.charCodeAt(0)))), out);
  text('@', Trigger.AT);
  text('%40', Trigger.AT);
  text('::', Trigger.IPV6);
  text('eyJ', Trigger.JWT);
  text('AKIA', Trigger.AKIA);
  text('ASIA', Trigger.AKIA);
  text('gh?_', Trigger.GITHUB);
  text('gith??_', Trigger.GITHUB);
  text('xox', Trigger.SLACK);
  text('xapp', Trigger.SLACK);
  text('-----', Trigger.PEM);
  pattern([exactSet(0x2b), DIGIT_SET], Trigger.PLUS_DIGIT);
  pattern([exactSet(0x25), exactSet(0x32), byteSet((b) => b === 0x42 || b === 0x62), DIGIT_SET], Trigger.PLUS_DIGIT); // %2B digit
  pattern([UPPER_SET, UPPER_SET, DIGIT_SET, DIGIT_SET], Trigger.IBAN);
  pattern([DIGIT_SET, exactSet(0x2e), DIGIT_SET], JOINT_OUT);
  // A bounded run of four or more digits: from B, four digits, more digits, then a byte that is not a
  // letter or digit (or the end of the string: see DFA_DIGITS_AT_END).
  let at = B;
  for (let k = 0; k < 4; k++) {
    const next = state();
    nfa.edges[at]!.push({ set: DIGIT_SET, to: next });
    at = next;
  }
  const digitsRun = at;
  nfa.edges[digitsRun]!.push({ set: DIGIT_SET, to: digitsRun }, { set: NON_ALNUM_SET, to: state(Trigger.DIGITS) });
  return { nfa, start: [S0, B], digitsRun };
}

/**
 * Subset construction over byte classes (bytes that every edge treats alike). It runs once per thread
 * that loads this module, mostly before the JIT warms up, so it avoids allocating per transition: a
 * target set is a bitset, and becomes an array only when it is a new DFA state.
 */
/** Room for the transitions (states × classes; about 34,500 today): fixed, so the table can be a constant. */
const DFA_CAPACITY = 1 << 16;
/**
 * Transitions by (row + class), a row being state × classes: the next state's row shifted left by 16,
 * or'ed with what the next state outputs (Trigger bits, JOINT_OUT), so that one load per byte does both.
 * Constants filled on first use (module-level constants are what lets the JIT compile the loop below
 * into a few instructions; tables held in variables cost half as much again per byte).
 */
const DFA_NEXT = new Int32Array(DFA_CAPACITY);
const DFA_CLASS = new Uint8Array(256);
/** Rows of the states at which the end of the string completes a bounded digit run. */
const DFA_DIGITS_AT_END = new Uint8Array(DFA_CAPACITY);
let dfaSize = { states: 0, classes: 0 };

/** Fills the tables. */
function buildDfa(): void {
  const { nfa, start, digitsRun } = buildNfa();
  // Byte classes by partition refinement: split every class by every distinct edge set.
  const sets: ByteSet[] = [];
  for (const list of nfa.edges) for (const e of list) if (!sets.includes(e.set)) sets.push(e.set);
  const cls = new Uint8Array(256);
  let classes = 1;
  const split = new Int32Array(256);
  for (const set of sets) {
    split.fill(-1, 0, classes);
    const before = classes;
    for (let b = 0; b < 256; b++) {
      if (set[b] !== 1) continue;
      const c = cls[b]!;
      // The first member of class c met in the set decides: bytes of c in the set move to a new class,
      // unless every byte of c is in the set (checked below by undoing empty splits).
      if (split[c] === -1) split[c] = classes++;
      cls[b] = split[c]!;
    }
    // A class wholly inside the set left its old number empty: renumber densely.
    if (classes > before) {
      const used = new Int32Array(classes).fill(-1);
      let k = 0;
      for (let b = 0; b < 256; b++) {
        const c = cls[b]!;
        if (used[c] === -1) used[c] = k++;
        cls[b] = used[c]!;
      }
      classes = k;
    }
  }
  const representative = new Int32Array(classes).fill(-1);
  for (let b = 0; b < 256; b++) if (representative[cls[b]!] === -1) representative[cls[b]!] = b;
  // Per NFA state and class, where its edges lead.
  const n = nfa.edges.length;
  const moves: number[][] = new Array(n * classes);
  for (let q = 0; q < n; q++) {
    const edges = nfa.edges[q]!;
    for (let c = 0; c < classes; c++) {
      const r = representative[c]!;
      const list: number[] = [];
      for (let k = 0; k < edges.length; k++) if (edges[k]!.set[r] === 1) list.push(edges[k]!.to);
      moves[q * classes + c] = list;
    }
  }
  const words = (n + 15) >>> 4; // 16 NFA states per key character
  const bits = new Uint16Array(words);
  const ids = new Map<string, number>();
  const members: number[][] = [];
  const idOfBits = (): number => {
    const key = String.fromCharCode.apply(null, bits as unknown as number[]);
    let id = ids.get(key);
    if (id === undefined) {
      id = members.length;
      ids.set(key, id);
      const m: number[] = [];
      for (let q = 0; q < n; q++) if ((bits[q >>> 4]! & (1 << (q & 15))) !== 0) m.push(q);
      members.push(m);
    }
    return id;
  };
  for (const q of start) bits[q >>> 4]! |= 1 << (q & 15);
  idOfBits();
  const rows: number[] = [];
  for (let d = 0; d < members.length; d++) {
    const m = members[d]!;
    for (let c = 0; c < classes; c++) {
      bits.fill(0);
      for (let k = 0; k < m.length; k++) {
        const list = moves[m[k]! * classes + c]!;
        for (let j = 0; j < list.length; j++) bits[list[j]! >>> 4]! |= 1 << (list[j]! & 15);
      }
      rows.push(idOfBits());
    }
  }
  const states = members.length;
  if (states * classes > DFA_CAPACITY) throw new Error('prefilter: automaton too large');
  const out = members.map((m) => m.reduce((o, q) => o | nfa.out[q]!, 0));
  for (let k = 0; k < rows.length; k++) DFA_NEXT[k] = ((rows[k]! * classes) << 16) | out[rows[k]!]!;
  members.forEach((m, d) => {
    if (m.includes(digitsRun)) DFA_DIGITS_AT_END[d * classes] = 1;
  });
  DFA_CLASS.set(cls);
  dfaSize = { states, classes };
}

const IS_DIGIT = Uint8Array.from(DIGIT_SET);
const IS_COLON = exactSet(0x3a);

/** The Trigger bits buf[start, end) meets (0: no detector can fire; the same test as mayContainSecret). */
export function secretTriggers(buf: Uint8Array, start: number, end: number): number {
  if (dfaSize.states === 0) buildDfa();
  let row = 0;
  let bits = 0;
  let joints = 0;
  let digits = 0;
  let colons = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    const v = DFA_NEXT[row + DFA_CLASS[b]!]!;
    row = v >>> 16;
    bits |= v;
    joints += (v >>> 15) & 1;
    digits += IS_DIGIT[b]!;
    colons += IS_COLON[b]!;
  }
  bits &= 0x7fff;
  if (DFA_DIGITS_AT_END[row] === 1) bits |= Trigger.DIGITS;
  if (joints >= 3) bits |= Trigger.IPV4;
  if (colons >= 6) bits |= Trigger.IPV6;
  if ((bits & Trigger.DIGITS) !== 0) {
    if (digits >= 8) bits |= Trigger.DIGITS_8;
    if (digits >= 13) bits |= Trigger.DIGITS_13;
  }
  return bits;
}

/** Automaton size (builds it), for the tests. */
export function prefilterDfaSize(): { states: number; classes: number } {
  if (dfaSize.states === 0) buildDfa();
  return dfaSize;
}
