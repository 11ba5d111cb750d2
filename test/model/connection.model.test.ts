/**
 * Model-based test of the access point's per-link lifecycle on the real system: a real access
 * point process, a real TLS client. After every step the access point's own log (its `connection`
 * actor's state lines, debug level) must show the model's state.
 */
import { connect, type TLSSocket } from 'node:tls';
import { allTransitions, transitionCoveringPaths } from './coverage.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder } from '../../src/transport/frame-codec.js';
import { eventually } from '../helpers/eventually.js';
import { createSelfSigned, type PemPair } from '../../src/x509/self-signed.js';
import { isEvent, startAh, stopAll, tempStateDir, type Daemon } from '../helpers/cli.js';
import { connectionModel, type ConnectionModelEvent } from './connection-model.js';

const HEARTBEAT_MS = 300;
const paths = transitionCoveringPaths(connectionModel);
const transitions = allTransitions(connectionModel);
const covered = new Set<string>();

let cert: PemPair;
beforeAll(async () => {
  const now = Date.now();
  cert = await createSelfSigned({
    commonName: 'model',
    uris: ['spiffe://dev.local/ah/agent/model'],
    notBefore: now - 60_000,
    notAfter: now + 3_600_000,
    usage: 'client',
  });
});
afterAll(async () => {
  await stopAll();
  const missing = [...transitions].filter((t) => !covered.has(t));
  process.stdout.write(
    `connection model: ${transitions.size} transitions, ${covered.size} covered by ${paths.length} paths${missing.length ? `; not covered: ${missing.join(', ')}` : ''}\n`,
  );
  expect(missing).toEqual([]);
});

const linkStates = (ap: Daemon) => ap.lines.filter((l) => l.kind === 'state' && l.machine === 'connection').map((l) => l.state as string);

describe('connection: every model transition on the real system', () => {
  it.concurrent.each(paths.map((p) => [p.description, p] as const))('%s', async (_name, path) => {
    const ap = startAh([
      'agent',
      'access-point',
      '--fleet-listen',
      '127.0.0.1:0',
      '--heartbeat-interval',
      `${HEARTBEAT_MS}ms`,
      '--state-dir',
      tempStateDir(),
      '--log-level',
      'info,ah_machine=debug',
    ]);
    const listening = await ap.waitForLine(isEvent('access_point_listening'), 'listening');
    const port = Number(String(listening.address).split(':').pop());
    let socket: TLSSocket | null = null;
    let seq = 0;
    const acks: number[] = [];
    const open = (withCert: boolean) =>
      new Promise<void>((resolve, reject) => {
        socket = connect(
          { host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['ah-fleet/1'], ...(withCert ? { cert: cert.certPem, key: cert.keyPem } : {}) },
          () => resolve(),
        );
        const decoder = new FrameDecoder();
        socket.on('data', (chunk: Buffer) => {
          for (const m of decoder.push(chunk)) if (m.type === 'ack') acks.push(m.seq as number);
        });
        socket.on('error', () => {});
        socket.once('error', reject);
      });
    const actions: Record<ConnectionModelEvent, () => Promise<void>> = {
      CONNECT: () => open(true),
      CONNECT_ANONYMOUS: () => open(false),
      HELLO: async () => void socket!.write(encodeFrame({ type: 'hello', name: 'model', version: 'test', labels: {} })),
      HEARTBEAT: async () => void socket!.write(encodeFrame({ type: 'heartbeat', seq: ++seq })),
      GOODBYE: async () => void socket!.write(encodeFrame({ type: 'goodbye', reason: 'model test' })),
      GARBAGE: async () => void socket!.write(Buffer.from([0, 0, 0, 3, 9, 9, 9])),
      HANG_UP: async () => void socket!.end(),
      // Real time: three heartbeat intervals without a heartbeat.
      FALL_SILENT: async () => {},
      SHUT_DOWN_ACCESS_POINT: async () => void ap.child.kill('SIGTERM'),
      // The access point gives a peer 2 s to close after its last word.
      WAIT_DRAIN: async () => {},
    };
    let previous = 'idle';
    try {
      for (const step of path.steps) {
        const event = step.event.type as ConnectionModelEvent | 'xstate.init';
        const before = linkStates(ap).length;
        if (event !== 'xstate.init') {
          await actions[event]();
          covered.add(`connection-model.${previous} --${event}`);
        }
        const v = step.state.value;
        const top = typeof v === 'string' ? v : Object.keys(v)[0]!;
        previous = typeof v === 'string' ? v : `${top}.${Object.values(v)[0]}`;
        if (top === 'idle') continue;
        // The access point's log settles on the model's state for this link.
        await ap.waitForLine(() => linkStates(ap).at(-1) === top, `link state ${top} after ${event}`, 15_000);
        if (event === 'HELLO' && top !== 'closed') expect(linkStates(ap).slice(before)).toContain('verifying');
        // An admitted link's heartbeat is acked on the wire and leaves the machine where it was.
        if (event === 'HEARTBEAT' && top === 'active')
          await eventually(
            () => acks,
            (a) => a.includes(seq),
            `the ack of heartbeat ${seq}`,
          );
      }
    } finally {
      (socket as TLSSocket | null)?.destroy();
      await ap.stop('SIGKILL');
    }
  });
});
