/**
 * Flush before acknowledge, checked at the very moment: the engine in-process, with the access
 * point's frame writer watched, so that each `welcome` (enrolled, rotated) and `reject` frame
 * finds its audit line already in the file when it is written to the socket.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAccessPoint, createExecutor } from '../../src/index.js';
import { ServerLink } from '../../src/transport/fleet-server.js';
import type { AccessPointMessage } from '../../src/transport/messages.js';
import { tempStateDir } from '../helpers/cli.js';

afterEach(() => vi.restoreAllMocks());

const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);

describe('audit log, flushed before the acknowledgement', () => {
  it('has the enrolled, rotated and rejected lines on disk when the welcome or reject frame is written', async () => {
    const stateDir = tempStateDir();
    const file = join(stateDir, 'audit.log');
    const seen: Array<{ frame: string; audit: Record<string, any>[] }> = [];
    const send = ServerLink.prototype.send;
    vi.spyOn(ServerLink.prototype, 'send').mockImplementation(function (this: ServerLink, message: AccessPointMessage) {
      if (message.type === 'welcome' || message.type === 'reject') seen.push({ frame: message.type, audit: lines(file) });
      return send.call(this, message);
    });

    // Whatever fails below, what was started is stopped (executors first, then the access point).
    const started: Array<{ stop(): Promise<unknown> }> = [];
    try {
      const accessPoint = createAccessPoint({
        listen: '127.0.0.1:0',
        stateDir,
        auditLog: file,
        statusSocket: false,
        executorSanUriPrefix: 'spiffe://dev.local/ah/agent/good',
      });
      started.unshift(accessPoint);
      const { port } = await accessPoint.start();
      const good = createExecutor({
        name: 'good',
        remoteServer: `https://127.0.0.1:${port}`,
        stateDir,
        statusSocket: false,
        identity: { kind: 'dev', certTtlMs: 3_000 },
      });
      started.unshift(good);
      await good.start();
      await good.waitFor('enrolled');
      await new Promise((resolve) => good.once('rotated', resolve));
      const bad = createExecutor({ name: 'bad', remoteServer: `https://127.0.0.1:${port}`, stateDir, statusSocket: false, maxAttempts: 1 });
      started.unshift(bad);
      await bad.start();
      const outcome = await bad.done;
      expect(outcome).toMatchObject({ state: 'failed', error: { code: 'ENROLL_SAN_MISMATCH' } });
    } finally {
      // One that fails to stop must not leave the others running; stopping is not what this test checks.
      for (const s of started) await s.stop().catch(() => undefined);
    }

    const welcomes = seen.filter((s) => s.frame === 'welcome');
    expect(welcomes.length).toBeGreaterThanOrEqual(2);
    // The n-th welcome finds the n-th admission (enrolled, then rotated...) as the file's last line.
    welcomes.forEach((w, i) => {
      const admissions = w.audit.filter((r) => r.event === 'enrolled' || r.event === 'rotated');
      expect(admissions).toHaveLength(i + 1);
      expect(w.audit.at(-1)!.event).toBe(i === 0 ? 'enrolled' : 'rotated');
    });
    const reject = seen.find((s) => s.frame === 'reject')!;
    expect(reject.audit.at(-1)).toMatchObject({ event: 'rejected', code: 'ENROLL_SAN_MISMATCH', name: 'bad' });
  });
});
