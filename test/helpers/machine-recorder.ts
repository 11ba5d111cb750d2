/**
 * The machines' debug log, recorded in-process: the real machines, the real `machineInspector`,
 * pino with the engine's line shape, but I/O actors scripted by the test and time on a
 * SimulatedClock (the lines' `time` is the simulated one). For stuck states that take minutes or an
 * outside service to reach for real (a sealed Vault, files never replaced), in seconds.
 */
import pino from 'pino';
import { SimulatedClock } from 'xstate';
import { machineInspector } from '../../src/log/machine-log.js';
import type { IdentitySummary } from '../../src/model/identity.js';

export class MachineRecorder {
  readonly clock = new SimulatedClock();
  readonly base = Date.UTC(2026, 10, 29, 16, 0, 0);
  private readonly chunks: string[] = [];
  private readonly root = pino(
    {
      level: 'debug',
      base: { pid: 4242 },
      timestamp: () => `,"time":${this.now()}`,
      formatters: { level: (label, number) => ({ level: number, levelName: label }) },
    },
    { write: (s: string) => void this.chunks.push(s) },
  );
  private readonly logger = this.root.child({ component: 'ah_machine' });
  /** The links' own lines (`heartbeat_sent`, `heartbeat_acked`), as the engine's `ah_transport` writes them. */
  readonly transport = this.root.child({ component: 'ah_transport' });

  now(): number {
    return this.base + this.clock.now();
  }

  inspector(rootName: string) {
    return machineInspector(this.logger, rootName)!;
  }

  text(): string {
    return this.chunks.join('');
  }
}

export function identity(serial: string, notBefore: number, lifetimeMs: number, provider = 'files'): IdentitySummary {
  return { provider, serial, fingerprint: `fp-${serial}`, spiffeId: 'spiffe://example.org/ah/agent/x', notBefore, notAfter: notBefore + lifetimeMs };
}

/** Let promise callbacks (a renewal that failed) run. */
export const settle = () => new Promise<void>((r) => setImmediate(r));
