/**
 * Debian's chromium driven by playwright-core (which downloads no browser). CI installs the
 * `chromium` package; on a machine where apt is still installing it, wait for the binary (bounded)
 * rather than fail.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ROOT } from './cli.js';

export const CHROMIUM = process.env.AH_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(ROOT, 'test-artifacts');

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function waitForBinary(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      accessSync(path, constants.X_OK);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${path} not found: install Debian's chromium (apt-get install chromium)`);
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
}

export async function launchChromium(): Promise<Browser> {
  await waitForBinary(CHROMIUM, 5 * 60_000);
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

/** Where a test saves what a person may want to look at after the run. */
export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
