/**
 * Trust on first use, in one executor process: the remembered key is kept in memory after the
 * first read, and yet a different key is still refused with the guide's error naming the file, and
 * deleting that file (the guide's fix) still lets the new key be remembered, without a restart.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AhError } from '../../src/errors/ah-error.js';
import { knownAccessPointFile } from '../../src/transport/access-point-trust.js';
import { FleetClientLink } from '../../src/transport/fleet-client.js';
import { spkiPin } from '../../src/x509/certificate.js';
import { createSelfSigned, type PemPair } from '../../src/x509/self-signed.js';
import { startWelcomeServer, type WelcomeServer } from '../helpers/welcome-server.js';

let keyA: PemPair;
let keyB: PemPair;
let server: WelcomeServer;
const dir = mkdtempSync(join(tmpdir(), 'ah-pin-'));

const accessPointCert = () => {
  const now = Date.now();
  return createSelfSigned({
    commonName: 'access point',
    uris: ['spiffe://dev.local/ah/access-point'],
    ips: ['127.0.0.1'],
    notBefore: now - 60_000,
    notAfter: now + 3_600_000,
    usage: 'server',
  });
};

beforeAll(async () => {
  keyA = await accessPointCert();
  keyB = await accessPointCert();
  server = await startWelcomeServer(keyA);
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

type Outcome = { welcomed: true } | { welcomed: false; error: AhError };

function dial(): Promise<Outcome> {
  const link = new FleetClientLink({
    host: '127.0.0.1',
    port: server.port,
    address: `127.0.0.1:${server.port}`,
    certPem: '',
    keyPem: '',
    trust: { kind: 'first-use', dir },
    hello: { name: 'executor-1', version: 'test', labels: {} },
  });
  return new Promise((resolve) => {
    link.once('welcome', () => {
      link.close('done');
      resolve({ welcomed: true });
    });
    link.once('failed', (error) => resolve({ welcomed: false, error }));
    link.start();
  });
}

const pinOf = (pair: PemPair) => spkiPin(new X509Certificate(pair.certPem));

describe('first-use trust with the pin in memory', () => {
  it('refuses a changed key after the pin was cached, and takes a new one once the file is deleted', async () => {
    const file = knownAccessPointFile(dir, `127.0.0.1:${server.port}`);
    // First use: remembered in the file; then the same key again (from memory).
    expect(await dial()).toEqual({ welcomed: true });
    expect(readFileSync(file, 'utf8').split(' ')[0]).toBe(pinOf(keyA));
    expect(await dial()).toEqual({ welcomed: true });

    // The access point comes back with another key: refused, naming the file, twice over.
    server.use(keyB);
    for (let i = 0; i < 2; i++) {
      const refused = await dial();
      expect(refused.welcomed).toBe(false);
      const { error } = refused as { error: AhError };
      expect(error.code).toBe('ENROLL_SERVER_KEY_CHANGED');
      expect(error.params).toMatchObject({ expected: pinOf(keyA), actual: pinOf(keyB), file });
    }
    expect(server.welcomed).toHaveLength(2);

    // The guide's fix: delete the file; the next dial remembers the new key.
    rmSync(file);
    expect(await dial()).toEqual({ welcomed: true });
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, 'utf8').split(' ')[0]).toBe(pinOf(keyB));

    // And now the old key is the stranger.
    server.use(keyA);
    const back = await dial();
    expect(back.welcomed).toBe(false);
    expect((back as { error: AhError }).error.params).toMatchObject({ expected: pinOf(keyB), actual: pinOf(keyA) });
  });
});
