// The shared fixtures live beside the repository (../shared/fixtures), in development and in CI alike.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';

export const sharedFixtures = join(packageRoot, '..', 'shared', 'fixtures');
if (!existsSync(sharedFixtures)) throw new Error(`shared fixtures not found at ${sharedFixtures}: the tests need ../shared beside the repository`);
export const otlpJsonFixtures = join(sharedFixtures, 'otlp-json');
export const piiFixtures = join(sharedFixtures, 'pii');
