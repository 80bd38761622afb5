// The shared fixtures live beside the repository (../shared/fixtures), in development and in CI alike.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';

export const sharedFixtures = join(packageRoot, '..', 'shared', 'fixtures');
if (!existsSync(sharedFixtures)) throw new Error(`shared fixtures not found at ${sharedFixtures}: the tests need ../shared beside the repository`);
export const otlpJsonFixtures = join(sharedFixtures, 'otlp-json');
export const piiFixtures = join(sharedFixtures, 'pii');

/**
 * Every string of the PII corpus: the string values of its OTLP/JSON requests, and each line of
 * secrets.txt and negatives.txt without its `category<TAB>` label.
 */
export function piiCorpusStrings(): string[] {
  const out: string[] = [];
  const walk = (o: unknown): void => {
    if (typeof o === 'string') out.push(o);
    else if (Array.isArray(o)) o.forEach(walk);
    else if (o && typeof o === 'object') Object.values(o).forEach(walk);
  };
  for (const f of ['traces.json', 'logs.json', 'metrics.json']) walk(JSON.parse(readFileSync(join(piiFixtures, f), 'utf8')));
  for (const f of ['secrets.txt', 'negatives.txt']) {
    for (const l of readFileSync(join(piiFixtures, f), 'utf8').split('\n').filter(Boolean)) out.push(l.slice(l.indexOf('\t') + 1));
  }
  return out;
}

/** The repository's own PII fixture: secrets in the places the shared corpus leaves clean (its README). */
export const piiPlacesFixtures = join(packageRoot, 'test', 'fixtures', 'pii-places');
