/**
 * Debian's chromium driven by playwright-core (which downloads no browser). The `chromium` package
 * is installed before `npm test` where the machine allows it; without it the browser tests are
 * skipped, or fail under CI (see tools.ts). AH_CHROMIUM names another binary.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ROOT } from './cli.js';
import { requireTool, skipWithout } from './tools.js';

/** For `it.skipIf(noBrowser)`: no chromium outside CI (one line says so). */
export const noBrowser = process.env.AH_CHROMIUM ? false : skipWithout('chromium');

export const ARTIFACTS = join(ROOT, 'test-artifacts');

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env.AH_CHROMIUM ?? requireTool('chromium');
  return chromium.launch({ executablePath, args: ARGS });
}

/** Where a test saves what a person may want to look at after the run. */
export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
