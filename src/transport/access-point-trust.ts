/**
 * How an executor decides whether the server it reached is its access point.
 *
 * - `first-use` (dev identity): the access point's key is remembered the first time, in the
 *   state dir, like ssh's known_hosts; a different key later is refused, naming the file to delete.
 * - `ca`: the chain must verify to the trust bundle, then match `--expected-server-id`, the
 *   `--server-san` list, or by default the host of `--remote-server`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { AhError } from '../errors/ah-error.js';
import { isValidAt, spkiPin } from '../x509/certificate.js';

export interface FirstUseTrust {
  readonly kind: 'first-use';
  /** Directory of remembered access point keys (`<state-dir>/known-access-points`). */
  readonly dir: string;
}

export type AccessPointTrust = FirstUseTrust;

/** The file that remembers the key of the access point at `address` (HOST:PORT). */
export function knownAccessPointFile(dir: string, address: string): string {
  return join(dir, `${address.replace(/[^A-Za-z0-9.-]/g, '_')}.pin`);
}

export async function verifyAccessPoint(
  socket: TLSSocket,
  trust: AccessPointTrust,
  target: { address: string },
  now: number,
): Promise<void> {
  const cert = socket.getPeerX509Certificate();
  if (!cert) throw new AhError('ENROLL_TLS_VERIFY_FAILED');
  if (!isValidAt(cert, now)) throw new AhError('ENROLL_CERT_NOT_VALID_NOW');
  const pin = spkiPin(cert);
  const file = knownAccessPointFile(trust.dir, target.address);
  let remembered: string | null = null;
  try {
    remembered = (await readFile(file, 'utf8')).split(/\s+/)[0] ?? null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new AhError('ENROLL_STATE_DIR_UNUSABLE', { path: file, detail: (err as Error).message });
    }
  }
  if (remembered === null) {
    await mkdir(trust.dir, { recursive: true, mode: 0o700 });
    await writeFile(file, `${pin} ${target.address} first seen ${new Date(now).toISOString()}\n`, { mode: 0o644 });
    return;
  }
  if (remembered !== pin) {
    throw new AhError('ENROLL_SERVER_KEY_CHANGED', { address: target.address, expected: remembered, actual: pin, file });
  }
}
