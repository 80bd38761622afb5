// The fast path's rewriting pass (DESIGN.md decision 2): applies a tenant's policy (policy-rules.ts)
// and tenant stamping to a request the validating walk (walk.ts) has accepted, on the wire bytes.
//
// It reads the request once, descending only into the messages that can hold something the policy
// acts on, and records edits: "replace bytes [s, e) of the input with these bytes" (a redacted string,
// a dropped attribute, metric or resource, an appended attribute) plus, for every message whose
// content changed size, a new length prefix. The output is then assembled by copying the untouched
// ranges between edits verbatim. A string reaches the detectors only when the byte prefilter
// (policy/detect/prefilter.ts) flags it, its key is sensitive, or custom patterns exist; only a
// string that changes is decoded, re-encoded and written. When nothing changes the output is the
// input buffer itself (zero copy).
//
// Semantics (the reference path, ../reference/apply-policy.ts, implements the same on objects):
// - attribute lists (resource, scope, span, event, link, log record, data point, exemplar): a key that
//   the signal's allowlist (or keys.mode: allowlist) does not allow is dropped (counted, reason
//   attribute_key); then a blocked key pattern drops the attribute or masks its value (one redaction,
//   category blocked_key); otherwise the value is redacted (strings at any depth of arrays and
//   kvlists, each under its innermost key; kvlist keys obey the blocked patterns too); bytes values
//   like string values (read as UTF-8 when valid, else Latin-1: policy-rules.ts bytesAsText);
// - every key (attribute, kvlist, metadata) is itself redacted like a string with no key when the key
//   rules' memo says it holds a finding (KeyInfo.keySecret); the allowlist, blocked patterns and
//   sensitivity are decided on the key as sent;
// - every other client string is redacted with no key: span names and trace states, link trace
//   states, event names, status messages, log bodies, severity texts and event names, metric names
//   (after the allowlist), descriptions and units, schema URLs (resource and scope entries), scope
//   names, entity refs' strings; a scope's version under a version key (no IPv4 finding); metric
//   `metadata` like a kvlist (docs/reference/redaction-coverage.md has the table of places);
// - a metric whose name the allowlist refuses, and a resource whose service.name (the last such
//   attribute's string value, '' when none) it refuses, are dropped with their items (counted);
// - with a summary attribute, an item (span, log record, data point) with redactions gets that
//   attribute appended, its value the number of redactions inside the item;
// - with a tenant attribute, every resource loses the client's attributes of that key (counted as
//   overwrites) and gets the attribute appended, its value the tenant (a resource is created if absent).
// Protobuf merge rules are respected: the last `key` of a KeyValue counts, every occurrence of a string
// is redacted (the last one wins on decoding anyway), the stamp goes into the last `resource` field.
//
// The pass is split by concern under ./rewrite/: input.ts (the request and what to do with it),
// fields.ts (reading fields), edits.ts (recording edits, new length prefixes), output.ts (assembling
// the output), redact-string.ts (strings and bytes values), key-cache.ts and string-memo.ts (skipping
// repeated work), attributes.ts (KeyValues and AnyValues), resources.ts (the top level: resources,
// scopes), traces.ts / logs.ts / metrics.ts (each signal's items), items.ts (counting and summarizing
// items), tally.ts (what the result counts), encode.ts (encoding added fields). Their state is
// module-level (a worker rewrites one request at a time; no allocation per field or string).
import type { Signal } from '../../signals.js';
import type { Counts, RuleSet } from './policy-rules.js';
import { beginEdits, editCount, endEdits } from './rewrite/edits.js';
import { keyValueString } from './rewrite/encode.js';
import { beginInput, endInput } from './rewrite/input.js';
import { beginKeyCache } from './rewrite/key-cache.js';
import { assemble } from './rewrite/output.js';
import { request } from './rewrite/resources.js';
import { redactionsByName, resetTally, tally } from './rewrite/tally.js';

export interface RewriteOptions {
  /** null: no policy, only stamping. */
  rules: RuleSet | null;
  tenant: string;
  tenantAttribute?: string | undefined;
}

export interface RewriteResult {
  /** The input itself when nothing changed. */
  body: Uint8Array;
  changed: boolean;
  redactions: Counts;
  dropped: Counts;
  /** Items (spans, data points, log records) removed with a dropped metric or resource. */
  droppedItems: number;
  tenantOverwrites: number;
}

/** Applies the rules and the stamp to a validated request of `sig`. */
export function rewriteRequest(sig: Signal, input: Uint8Array, options: RewriteOptions): RewriteResult {
  const stamp = options.tenantAttribute !== undefined ? keyValueString(options.tenantAttribute, options.tenant) : null;
  beginInput(sig, input, options.rules, options.tenantAttribute ?? '', stamp);
  beginEdits();
  resetTally(options.rules);
  beginKeyCache(options.rules, sig);
  try {
    request(0, input.length);
    const changed = editCount > 0;
    const body = changed ? assemble() : input;
    return { body, changed, redactions: redactionsByName(options.rules), dropped: tally.dropped, droppedItems: tally.droppedItems, tenantOverwrites: tally.tenantOverwrites };
  } finally {
    endInput();
    endEdits();
  }
}
