/**
 * The files provider on its own: what it makes of whatever bytes are in the files, and the poll
 * that catches changes a watch missed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AhError } from '../../src/errors/ah-error.js';
import { catalog } from '../../src/errors/catalog.js';
import { FilesIdentityProvider } from '../../src/providers/files.js';
import type { IdentityMaterial } from '../../src/providers/identity-provider.js';
import { createRoot, issueLeaf, type Issuer, type Leaf } from '../helpers/pki.js';

let root: Issuer;
let leaf: Leaf;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
beforeAll(async () => {
  root = await createRoot();
  leaf = await issueLeaf(root, { uris: ['spiffe://example.org/ah/agent/a'] });
});

/** Start a provider over the given file contents; resolves with what it said first. */
async function firstWord(contents: { cert: string | Uint8Array; key: string | Uint8Array; ca: string | Uint8Array }) {
  const dir = mkdtempSync(join(tmpdir(), 'ah-fp-'));
  dirs.push(dir);
  for (const [name, data] of Object.entries(contents)) writeFileSync(join(dir, `${name}.pem`), data);
  const provider = new FilesIdentityProvider({ certPath: join(dir, 'cert.pem'), keyPath: join(dir, 'key.pem'), caPath: join(dir, 'ca.pem'), watch: false });
  const said = new Promise<IdentityMaterial | AhError>((resolve) => {
    provider.once('material', resolve);
    provider.once('error', resolve);
  });
  await provider.start();
  const result = await said;
  await provider.stop();
  return result;
}

describe('files provider', () => {
  it('offers a good set as material', async () => {
    const m = await firstWord({ cert: leaf.certPem, key: leaf.keyPem, ca: root.pem });
    expect(m).not.toBeInstanceOf(AhError);
    expect((m as IdentityMaterial).summary).toMatchObject({ provider: 'files', serial: leaf.serial, spiffeId: 'spiffe://example.org/ah/agent/a' });
  });

  it('turns arbitrary bytes and truncated PEM into a catalog error, never a crash', async () => {
    const truncated = fc.nat().map((n) => (s: string) => s.slice(0, n % s.length));
    const garbage = fc.oneof(
      fc.uint8Array({ maxLength: 400 }),
      truncated.map((cut) => cut(leaf.certPem)),
      fc.string({ maxLength: 200 }).map((s) => `-----BEGIN CERTIFICATE-----\n${s}\n-----END CERTIFICATE-----\n`),
    );
    const codes = new Set(Object.keys(catalog));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('cert', 'key', 'ca'), garbage, async (which, bytes) => {
        const contents = { cert: leaf.certPem, key: leaf.keyPem, ca: root.pem, [which]: bytes };
        const said = await firstWord(contents);
        if (said instanceof AhError) {
          expect(codes.has(said.code)).toBe(true);
          expect(said.code).toMatch(/^ENROLL_(UNREADABLE_PEM|KEY_MISMATCH|CHAIN_BROKEN)$/);
          expect(said.message).not.toMatch(/\n/);
        } else {
          // Truncation can leave a whole PEM (cut inside trailing text): then it is the real material.
          expect(said.summary.serial).toBe(leaf.serial);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('sees a change by polling when no watch event comes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ah-fp-'));
    dirs.push(dir);
    const paths = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), ca: join(dir, 'ca.pem') };
    writeFileSync(paths.cert, leaf.certPem);
    writeFileSync(paths.key, leaf.keyPem);
    writeFileSync(paths.ca, root.pem);
    const provider = new FilesIdentityProvider({ certPath: paths.cert, keyPath: paths.key, caPath: paths.ca, watch: false, pollIntervalMs: 100 });
    const seen: string[] = [];
    provider.on('material', (m) => seen.push(m.summary.serial));
    await provider.start();
    const next = await issueLeaf(root, { uris: ['spiffe://example.org/ah/agent/a'] });
    const arrived = new Promise<void>((resolve) => provider.on('material', (m) => m.summary.serial === next.serial && resolve()));
    writeFileSync(paths.key, next.keyPem);
    writeFileSync(paths.cert, next.certPem);
    await arrived;
    await provider.stop();
    expect(seen[0]).toBe(leaf.serial);
    expect(seen.at(-1)).toBe(next.serial);
  });
});
