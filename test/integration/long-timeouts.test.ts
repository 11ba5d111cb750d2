/**
 * A connect timeout past 2^31-1 ms (25 days; the CLI caps the flag at 24h, the library does not)
 * must not fire after 1 ms: the engine in-process against a TCP listener that never answers TLS.
 */
import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createExecutor } from '../../src/index.js';
import { tempStateDir } from '../helpers/cli.js';

const DAY = 86_400_000;

describe('a 25-day connect timeout', () => {
  it('is still handshaking, attempt 0, after a 300 ms timeout on the same listener has expired', async () => {
    const sockets: Socket[] = [];
    const server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const remoteServer = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    const stateDir = tempStateDir();
    const patient = createExecutor({
      name: 'patient',
      remoteServer,
      stateDir,
      statusSocket: false,
      connectTimeoutMs: 25 * DAY,
      backoff: { baseMs: 10, capMs: 10 },
    });
    // The yardstick: started after the patient one, its short timeout expires first.
    const hasty = createExecutor({ name: 'hasty', remoteServer, stateDir, statusSocket: false, connectTimeoutMs: 300, maxAttempts: 1 });
    try {
      await patient.start();
      await patient.waitFor('handshaking');
      await hasty.start();
      const outcome = await hasty.done;
      expect(outcome).toMatchObject({ state: 'failed', error: { code: 'ENROLL_CONNECTION_TIMEOUT' } });
      expect(patient.status()).toMatchObject({ state: 'handshaking', attempts: 0, lastError: null });
    } finally {
      await Promise.all([patient.stop(), hasty.stop()]);
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});
