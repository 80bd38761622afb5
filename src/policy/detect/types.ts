// Shared shapes of the built-in PII detectors. This folder is a pure library (no I/O, no imports from
// outside it) so that worker threads can load it without pulling in the gateway.

/** The categories of ../shared/fixtures/pii/README.md ("Secret categories"), one per detector family. */
export type Category =
  | 'email'
  | 'credit_card'
  | 'jwt'
  | 'bearer_token'
  | 'aws_access_key_id'
  | 'aws_secret_key'
  | 'github_token'
  | 'slack_token'
  | 'private_key'
  | 'ipv4'
  | 'ipv6'
  | 'us_ssn'
  | 'phone'
  | 'iban'
  | 'password_by_key'
  | 'url_query_secret';

/** A secret found in a string: [start, end) in UTF-16 code units of that string. */
export interface Finding {
  category: string;
  start: number;
  end: number;
}

/**
 * One detector family. `find` appends what it sees to `out` (unsorted, possibly overlapping other
 * detectors' findings; index.ts merges). `key` is the attribute/kvlist key the value sits under, if any.
 */
export interface Detector {
  readonly category: Category;
  find(value: string, out: Finding[], key?: string): void;
}
