// Load-time check that a custom redaction pattern cannot hang a worker. JavaScript's RegExp is a
// backtracking engine: `(a+)+$` on "aaaa…!" takes time exponential in the input, and one such pattern
// in a policy would stall every worker that meets a matching string. Rather than ship a second
// (linear-time) engine, the policy loader accepts only patterns whose shape bounds backtracking:
//
//   1. length at most MAX_PATTERN_LENGTH characters;
//   2. no backreferences (`\1`, `\k<name>`) and no lookbehind (`(?<=`, `(?<!`): both take the engine
//      out of the regular languages and defeat the other rules;
//   3. star height 1: a repeated group (`(…)+`, `(…)*`, `(…){2,}`) may not contain another repetition
//      unless both are bounded (`(\d{1,3}\.){3}` is fine, `(a+)+`, `(a*)*` and `(\w+\.)+` are not);
//   4. the alternatives of a repeated group must start with disjoint characters (`(a|a)*`,
//      `(\w|\d)+` are rejected: each character could be taken by either branch);
//   5. two variable repetitions in a row must not overlap (`\d+\d+`, `\w*\s*\w*` style runs where
//      one character class can feed both: the engine tries every split point);
//   6. the longest possible match is at most MAX_MATCH_LENGTH characters, so no `*`, `+` or `{n,}`:
//      write `{1,64}`. A redactor searches each value from every position, and an unbounded
//      repetition that fails late (`[^@]+@corp`, `.*secret` on a long value without a match) costs
//      O(n) per position, O(n²) per value: seconds on a 20 KB log body, hours on a megabyte.
//      With a bounded match length the search is linear in the value;
//   7. bounded repetitions must not multiply into many ways of matching: `(a{1,30}){30}` is bounded
//      and has star height 1 after rule 3's exception, yet splits 900 characters in 30^30 ways. The
//      number of choices the engine can backtrack through at one position (a variable repetition
//      followed by a required character it cannot match is not a choice: `\d{1,3}\.` ends where
//      the dot is) must stay within MAX_CHOICES.
//
// Rules 3–5 are the shapes of the classic ReDoS reports (OWASP, "Regular expression Denial of
// Service"); they reject some harmless patterns too, and each error says how to rewrite.
// https://owasp.org/www-community/attacks/Regular_expression_Denial_of_Service_-_ReDoS

export const MAX_PATTERN_LENGTH = 256;
/** Rule 6: the longest match a custom pattern may have. */
export const MAX_MATCH_LENGTH = 1024;
/** Rule 7: backtracking choices at one start position. */
export const MAX_CHOICES = 1000;
/** The flags a custom pattern may carry (the redactor adds `g` itself). */
export const ALLOWED_FLAGS = ['i'] as const;

export type RegexCheck = { ok: true } | { ok: false; reason: string };

/** A set of UTF-16 code units as sorted, disjoint, inclusive ranges. */
type CharSet = Array<[number, number]>;

type Node =
  | { kind: 'chars'; set: CharSet }
  | { kind: 'empty' } // anchors, \b, lookaheads' footprint
  | { kind: 'seq'; items: Node[] }
  | { kind: 'alt'; options: Node[] }
  | { kind: 'group'; body: Node }
  | { kind: 'repeat'; body: Node; min: number; max: number };

const MAX_CODE = 0xffff;
const ANY: CharSet = [[0, MAX_CODE]];
const DIGIT: CharSet = [[0x30, 0x39]];
const WORD: CharSet = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
const SPACE: CharSet = normalize(
  [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff].map((c) => [c, c] as [number, number]).concat([[0x2000, 0x200a]]),
);

function normalize(set: CharSet): CharSet {
  const s = [...set].sort((a, b) => a[0] - b[0]);
  const out: CharSet = [];
  for (const [lo, hi] of s) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

function complement(set: CharSet): CharSet {
  const out: CharSet = [];
  let next = 0;
  for (const [lo, hi] of normalize(set)) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_CODE) out.push([next, MAX_CODE]);
  return out;
}

/** With the `i` flag a letter stands for both cases. */
function foldCase(set: CharSet): CharSet {
  const extra: CharSet = [];
  for (const [lo, hi] of set) {
    for (const [a, z, delta] of [
      [0x41, 0x5a, 0x20],
      [0x61, 0x7a, -0x20],
    ] as const) {
      const l = Math.max(lo, a);
      const h = Math.min(hi, z);
      if (l <= h) extra.push([l + delta, h + delta]);
    }
  }
  return normalize([...set, ...extra]);
}

function overlaps(a: CharSet, b: CharSet): boolean {
  for (const [alo, ahi] of a) for (const [blo, bhi] of b) if (alo <= bhi && blo <= ahi) return true;
  return false;
}

class ParseError extends Error {}

/** A recursive-descent parser for the JavaScript (non-`u`) pattern syntax, enough to see its shape. */
class Parser {
  pos = 0;
  constructor(
    private readonly src: string,
    private readonly ignoreCase: boolean,
  ) {}

  parse(): Node {
    const n = this.alternation();
    if (this.pos < this.src.length) throw new ParseError(`unbalanced ")" at offset ${this.pos}`);
    return n;
  }

  private peek(): string | undefined {
    return this.src[this.pos];
  }

  private alternation(): Node {
    const options = [this.sequence()];
    while (this.peek() === '|') {
      this.pos++;
      options.push(this.sequence());
    }
    return options.length === 1 ? options[0]! : { kind: 'alt', options };
  }

  private sequence(): Node {
    const items: Node[] = [];
    while (this.pos < this.src.length && this.peek() !== '|' && this.peek() !== ')') {
      items.push(this.quantified(this.atom()));
    }
    return { kind: 'seq', items };
  }

  private quantified(atom: Node): Node {
    const c = this.peek();
    let min: number;
    let max: number;
    if (c === '*') [min, max] = [0, Infinity];
    else if (c === '+') [min, max] = [1, Infinity];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos));
      if (!m) return atom; // a literal "{" in Annex B syntax
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      this.pos += m[0].length - 1;
    } else return atom;
    this.pos++;
    if (this.peek() === '?') this.pos++; // lazy: same search space
    return this.quantified({ kind: 'repeat', body: atom, min, max });
  }

  private chars(set: CharSet): Node {
    return { kind: 'chars', set: this.ignoreCase ? foldCase(set) : set };
  }

  private atom(): Node {
    const c = this.src[this.pos++]!;
    switch (c) {
      case '^':
      case '$':
        return { kind: 'empty' };
      case '.':
        return this.chars(ANY);
      case '[':
        return this.chars(this.charClass());
      case '\\':
        return this.escape(false) as Node;
      case '(':
        return this.group();
      case '*':
      case '+':
      case '?':
        throw new ParseError(`nothing to repeat at offset ${this.pos - 1}`);
      default:
        return this.chars([[c.charCodeAt(0), c.charCodeAt(0)]]);
    }
  }

  private group(): Node {
    let lookahead = false;
    if (this.src.startsWith('?<=', this.pos) || this.src.startsWith('?<!', this.pos)) {
      throw new Unsafe('lookbehind ("(?<=" / "(?<!") is not allowed in custom patterns');
    }
    if (this.src.startsWith('?:', this.pos)) this.pos += 2;
    else if (this.src.startsWith('?=', this.pos) || this.src.startsWith('?!', this.pos)) {
      this.pos += 2;
      lookahead = true;
    } else if (this.src.startsWith('?<', this.pos)) {
      const end = this.src.indexOf('>', this.pos);
      if (end === -1) throw new ParseError('unterminated group name');
      this.pos = end + 1;
    } else if (this.peek() === '?') throw new ParseError(`invalid group at offset ${this.pos - 1}`);
    const body = this.alternation();
    if (this.peek() !== ')') throw new ParseError('missing ")"');
    this.pos++;
    // A lookahead matches no characters itself, but its body runs at every position: check it as a
    // group of its own (the caller's checks see it) and let it count as empty in sequences.
    return lookahead ? { kind: 'seq', items: [{ kind: 'group', body: { kind: 'repeat', body, min: 0, max: 1 } }] } : { kind: 'group', body };
  }

  /** After a backslash. In a class, `\b` is a backspace and `\B` is an error-free letter. */
  private escape(inClass: boolean): Node | CharSet {
    const c = this.src[this.pos++];
    if (c === undefined) throw new ParseError('\\ at end of pattern');
    const set = (s: CharSet): Node | CharSet => (inClass ? s : this.chars(s));
    switch (c) {
      case 'd':
        return set(DIGIT);
      case 'D':
        return set(complement(DIGIT));
      case 'w':
        return set(WORD);
      case 'W':
        return set(complement(WORD));
      case 's':
        return set(SPACE);
      case 'S':
        return set(complement(SPACE));
      case 'b':
        return inClass ? [[8, 8]] : { kind: 'empty' };
      case 'B':
        return inClass ? [[0x42, 0x42]] : { kind: 'empty' };
      case 'k':
        if (this.peek() === '<') throw new Unsafe('backreferences ("\\k<name>") are not allowed in custom patterns');
        return set([[0x6b, 0x6b]]);
      case 'n':
        return set([[0x0a, 0x0a]]);
      case 'r':
        return set([[0x0d, 0x0d]]);
      case 't':
        return set([[0x09, 0x09]]);
      case 'f':
        return set([[0x0c, 0x0c]]);
      case 'v':
        return set([[0x0b, 0x0b]]);
      case '0':
        return set([[0, 0]]);
      case 'x': {
        const m = /^[0-9a-fA-F]{2}/.exec(this.src.slice(this.pos));
        if (!m) return set([[0x78, 0x78]]);
        this.pos += 2;
        const v = parseInt(m[0], 16);
        return set([[v, v]]);
      }
      case 'u': {
        const m = /^[0-9a-fA-F]{4}/.exec(this.src.slice(this.pos));
        if (!m) return set([[0x75, 0x75]]);
        this.pos += 4;
        const v = parseInt(m[0], 16);
        return set([[v, v]]);
      }
      case 'c': {
        const l = this.peek();
        if (l !== undefined && /[a-zA-Z]/.test(l)) {
          this.pos++;
          const v = l.charCodeAt(0) % 32;
          return set([[v, v]]);
        }
        return set([[0x5c, 0x5c]]);
      }
      default:
        if (c >= '1' && c <= '9') {
          if (inClass) return set([[c.charCodeAt(0), c.charCodeAt(0)]]);
          throw new Unsafe(`backreferences ("\\${c}") are not allowed in custom patterns`);
        }
        return set([[c.charCodeAt(0), c.charCodeAt(0)]]);
    }
  }

  private charClass(): CharSet {
    let negate = false;
    if (this.peek() === '^') {
      negate = true;
      this.pos++;
    }
    const parts: CharSet = [];
    let first = true;
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined) throw new ParseError('missing "]"');
      if (c === ']' && !first) break;
      first = false;
      const lo = this.classAtom();
      if (this.peek() === '-' && this.src[this.pos + 1] !== ']' && this.src[this.pos + 1] !== undefined && lo.length === 1 && lo[0]![0] === lo[0]![1]) {
        const save = this.pos;
        this.pos++;
        const hi = this.classAtom();
        if (hi.length === 1 && hi[0]![0] === hi[0]![1]) {
          parts.push([lo[0]![0], hi[0]![0]]);
          continue;
        }
        this.pos = save;
      }
      parts.push(...lo);
    }
    this.pos++; // ]
    const set = normalize(parts);
    return negate ? complement(this.ignoreCase ? foldCase(set) : set) : set;
  }

  private classAtom(): CharSet {
    const c = this.src[this.pos++]!;
    if (c === '\\') return this.escape(true) as CharSet;
    return [[c.charCodeAt(0), c.charCodeAt(0)]];
  }
}

class Unsafe extends Error {}

const isUnbounded = (n: { max: number }) => n.max === Infinity;

/** The characters a node can start with, and whether it can match the empty string. */
function first(n: Node): { set: CharSet; nullable: boolean } {
  switch (n.kind) {
    case 'chars':
      return { set: n.set, nullable: false };
    case 'empty':
      return { set: [], nullable: true };
    case 'group':
      return first(n.body);
    case 'repeat': {
      const f = first(n.body);
      return { set: f.set, nullable: f.nullable || n.min === 0 };
    }
    case 'alt': {
      const fs = n.options.map(first);
      return { set: normalize(fs.flatMap((f) => f.set)), nullable: fs.some((f) => f.nullable) };
    }
    case 'seq': {
      const set: CharSet = [];
      for (const item of n.items) {
        const f = first(item);
        set.push(...f.set);
        if (!f.nullable) return { set: normalize(set), nullable: false };
      }
      return { set: normalize(set), nullable: true };
    }
  }
}

/** Every character a node can consume anywhere (for runs of repetitions that may trade characters). */
function all(n: Node): CharSet {
  switch (n.kind) {
    case 'chars':
      return n.set;
    case 'empty':
      return [];
    case 'group':
    case 'repeat':
      return all(n.body);
    case 'alt':
      return normalize(n.options.flatMap(all));
    case 'seq':
      return normalize(n.items.flatMap(all));
  }
}

/** The longest string a node can match (Infinity for unbounded repetitions). */
function maxMatch(n: Node): number {
  switch (n.kind) {
    case 'chars':
      return 1;
    case 'empty':
      return 0;
    case 'group':
      return maxMatch(n.body);
    case 'repeat':
      return n.max === 0 ? 0 : n.max * maxMatch(n.body);
    case 'alt':
      return Math.max(0, ...n.options.map(maxMatch));
    case 'seq':
      return n.items.reduce((sum, i) => sum + maxMatch(i), 0);
  }
}

/** Rule 7: an upper bound on the backtracking choices of a node at one position (capped at Infinity). */
function choices(n: Node): number {
  switch (n.kind) {
    case 'chars':
    case 'empty':
      return 1;
    case 'group':
      return choices(n.body);
    case 'alt': {
      const cs = n.options.map(choices);
      const firsts = n.options.map((o) => first(o).set);
      // Alternatives that start with different characters never both get tried past one character.
      const disjoint = firsts.every((f, i) => firsts.every((g, j) => j <= i || !overlaps(f, g)));
      return disjoint ? Math.max(...cs) : cs.reduce((a, b) => a + b, 0);
    }
    case 'repeat': {
      const b = choices(n.body);
      if (n.max === Infinity) return Infinity;
      let total = 0;
      for (let k = n.min; k <= n.max && total < 1e12; k++) total += b ** k;
      return total;
    }
    case 'seq': {
      let product = 1;
      n.items.forEach((item, i) => {
        const next = n.items[i + 1];
        // A variable repetition that must stop where a character it cannot take is required: one way.
        const delimited =
          item.kind === 'repeat' && next !== undefined && !first(next).nullable && !overlaps(first(next).set, all(item.body)) && choices(item.body) === 1;
        product *= delimited ? 1 : choices(item);
      });
      return product;
    }
  }
}

/** The repetitions inside a node (not the node itself). */
function innerRepeats(n: Node): Array<{ min: number; max: number }> {
  switch (n.kind) {
    case 'chars':
    case 'empty':
      return [];
    case 'group':
      return innerRepeats(n.body).concat(n.body.kind === 'repeat' ? [n.body] : []);
    case 'repeat':
      return innerRepeats(n.body).concat(n.body.kind === 'repeat' ? [n.body] : []);
    case 'alt':
      return n.options.flatMap((o) => innerRepeats(o).concat(o.kind === 'repeat' ? [o] : []));
    case 'seq':
      return n.items.flatMap((o) => innerRepeats(o).concat(o.kind === 'repeat' ? [o] : []));
  }
}

function alternations(n: Node): Array<Extract<Node, { kind: 'alt' }>> {
  switch (n.kind) {
    case 'alt':
      return [n];
    case 'group':
      return alternations(n.body);
    case 'seq':
      // Only an alternation the repeated body can start with competes for the same characters.
      return n.items.length > 0 ? alternations(n.items[0]!) : [];
    default:
      return [];
  }
}

function check(n: Node): void {
  switch (n.kind) {
    case 'chars':
    case 'empty':
      return;
    case 'group':
      return check(n.body);
    case 'alt':
      return n.options.forEach(check);
    case 'seq': {
      n.items.forEach(check);
      // Rule 5: variable repetitions in a row over overlapping characters.
      // Only optional items between them still let the two trade characters (`\w+\s*\w*`).
      const variable = (x: Node): x is Extract<Node, { kind: 'repeat' }> => x.kind === 'repeat' && x.min < x.max;
      for (let i = 0; i + 1 < n.items.length; i++) {
        const a = n.items[i]!;
        if (!variable(a)) continue;
        for (let j = i + 1; j < n.items.length; j++) {
          const b = n.items[j]!;
          if (!(variable(b) && (a.max > 1 || b.max > 1) && overlaps(all(a.body), all(b.body)))) {
            if (first(b).nullable) continue;
            break;
          }
          throw new Unsafe(
            'two variable repetitions in a row can match the same characters (like "\\d+\\d*" or "\\w+\\s*\\w+"), so the engine tries every split; merge them or put a required, different character between them',
          );
        }
      }
      return;
    }
    case 'repeat': {
      check(n.body);
      if (n.max <= 1) return;
      // Rule 3: star height 1.
      for (const inner of innerRepeats(n)) {
        if (inner.max > 1 && (isUnbounded(inner) || isUnbounded(n))) {
          throw new Unsafe(
            'a repeated group contains another repetition (nested quantifiers like "(a+)+", "(a*)*" or "(\\w+\\.)+"), which backtracks exponentially; repeat only single characters or classes inside a repeated group, or bound both counts',
          );
        }
      }
      if (first(n.body).nullable && isUnbounded(n)) {
        throw new Unsafe('a repeated group can match the empty string (like "(a?)*"), which backtracks exponentially; make the group consume at least one character');
      }
      // Rule 4: alternatives of a repeated group that can start with the same character.
      for (const alt of alternations(n.body)) {
        const firsts = alt.options.map((o) => first(o).set);
        for (let i = 0; i < firsts.length; i++) {
          for (let j = i + 1; j < firsts.length; j++) {
            if (overlaps(firsts[i]!, firsts[j]!)) {
              throw new Unsafe(
                'the alternatives of a repeated group can start with the same character (like "(a|a)*" or "(\\w|\\d)+"), so each input can be split between them in exponentially many ways; make the alternatives start differently or use one character class',
              );
            }
          }
        }
      }
      return;
    }
  }
}

/**
 * Whether `source` (with `flags`) is acceptable as a custom pattern: a syntactically valid JavaScript
 * regular expression of bounded length whose shape cannot backtrack catastrophically (rules above).
 * The reason says which rule failed and how to rewrite.
 */
export function checkPattern(source: string, flags = ''): RegexCheck {
  if (source.length === 0) return { ok: false, reason: 'the pattern is empty' };
  if (source.length > MAX_PATTERN_LENGTH) {
    return { ok: false, reason: `patterns are limited to ${MAX_PATTERN_LENGTH} characters to bound matching time (got ${source.length})` };
  }
  for (const f of flags) {
    if (!(ALLOWED_FLAGS as readonly string[]).includes(f)) return { ok: false, reason: `flag "${f}" is not allowed (allowed: ${ALLOWED_FLAGS.join(', ')})` };
  }
  try {
    new RegExp(source, flags);
  } catch (err) {
    return { ok: false, reason: `not a valid regular expression: ${(err as Error).message}` };
  }
  try {
    const tree = new Parser(source, flags.includes('i')).parse();
    check(tree);
    const longest = maxMatch(tree);
    if (longest === Infinity) {
      throw new Unsafe(
        'unbounded repetitions ("*", "+", "{n,}") are not allowed: searching a long value from every position would take quadratic time; bound them, e.g. "[A-Za-z0-9]{1,64}" instead of "[A-Za-z0-9]+"',
      );
    }
    const ways = choices(tree);
    if (ways > MAX_CHOICES) {
      throw new Unsafe(
        `the pattern can backtrack through about ${ways > 1e9 ? 'more than 10^9' : Math.round(ways)} ways of matching at one position (at most ${MAX_CHOICES}); avoid repeating groups that contain variable repetitions, or end each variable repetition with a character it cannot match (like "\\d{1,3}\\.")`,
      );
    }
    if (longest > MAX_MATCH_LENGTH) {
      throw new Unsafe(`the longest possible match is ${longest} characters; at most ${MAX_MATCH_LENGTH} are allowed so that searching a value stays linear`);
    }
  } catch (err) {
    if (err instanceof Unsafe) return { ok: false, reason: err.message };
    if (err instanceof ParseError) return { ok: false, reason: `cannot analyse the pattern: ${err.message}` };
    throw err;
  }
  return { ok: true };
}
