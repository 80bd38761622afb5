// What the pass counts for the result: redactions, drops, overwrites. One object (its fields are
// incremented from several modules, which an imported binding cannot be), reset per request.
import { BLOCKED_KEY, type Counts, type RuleSet } from '../policy-rules.js';

export const tally = {
  // Redactions by category index (RuleSet.categories), turned into the result's Counts once per
  // request (a keyed increment of an object per finding cost more than the finding).
  categories: new Int32Array(64),
  /** Redactions of blocked keys. */
  blockedKeys: 0,
  /** Redactions inside the current item (span, log record, data point), for its summary attribute. */
  itemRedactions: 0,
  dropped: {} as Counts,
  /** Items (spans, data points, log records) removed with a dropped metric or resource. */
  droppedItems: 0,
  tenantOverwrites: 0,
};

export function resetTally(rules: RuleSet | null): void {
  tally.blockedKeys = 0;
  if (rules) {
    const n = rules.categories.length;
    if (tally.categories.length < n) tally.categories = new Int32Array(n);
    else tally.categories.fill(0, 0, n);
  }
  tally.dropped = {};
  tally.itemRedactions = 0;
  tally.droppedItems = 0;
  tally.tenantOverwrites = 0;
}

/** The redactions by category name. */
export function redactionsByName(rules: RuleSet | null): Counts {
  const out: Counts = {};
  if (rules) {
    const names = rules.categories;
    for (let i = 0; i < names.length; i++) if (tally.categories[i]! > 0) out[names[i]!] = tally.categories[i]!;
  }
  if (tally.blockedKeys > 0) out[BLOCKED_KEY] = tally.blockedKeys;
  return out;
}
