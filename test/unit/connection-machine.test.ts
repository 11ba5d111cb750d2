import { createActor, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { connectionMachine, type PeerVerdict } from '../../src/machines/connection.js';

import { advance } from '../helpers/clock.js';
import type { ErrorInfo } from '../../src/errors/ah-error.js';

function link(verdict: PeerVerdict | ErrorInfo) {
  const clock = new SimulatedClock();
  const wire: string[] = [];
  const emitted: string[] = [];
  const machine = connectionMachine.provide({
    actions: {
      sendWelcome: () => void wire.push('welcome'),
      sendReject: (_, p) => void wire.push(`reject ${p.error.code}`),
      sendGoodbye: (_, p) => void wire.push(`goodbye ${p.reason}`),
      endSocket: () => void wire.push('end'),
      destroySocket: () => void wire.push('destroy'),
    },
  });
  const actor = createActor(machine, { clock, input: { linkId: 'link-1', remoteAddress: '127.0.0.1:5', heartbeatIntervalMs: 1_000 } });
  for (const type of ['admitted', 'departed', 'rejected'] as const) actor.on(type, (e) => emitted.push(`${e.type}`));
  actor.start();
  // The transport's verdict on the hello, as it sends it (actors/executor-links.ts).
  const verify = () => actor.send('code' in verdict ? { type: 'PEER_REFUSED', error: verdict } : { type: 'PEER_VERIFIED', verdict });
  return { clock, wire, emitted, actor, verify, hello: () => actor.send({ type: 'HELLO', name: 'e', version: '1', labels: {}, at: clock.now() }) };
}

const OK: PeerVerdict = { executorId: 'spiffe://dev.local/ah/agent/e', certNotAfter: 9e12, serial: '01' };

describe('connection machine', () => {
  it('verifies after hello, welcomes, and closes when told the link fell silent', () => {
    const l = link(OK);
    l.hello();
    expect(l.actor.getSnapshot().value).toBe('verifying');
    l.verify();
    expect(l.actor.getSnapshot().value).toEqual({ active: 'live' });
    expect(l.wire).toEqual(['welcome']);
    // Time alone does not close an admitted link: its silence deadline is the heartbeat watch's.
    advance(l.clock, 60_000);
    expect(l.actor.getSnapshot().value).toEqual({ active: 'live' });
    l.actor.send({ type: 'SILENT', at: l.clock.now() });
    expect(l.actor.getSnapshot().value).toBe('closed');
    expect(l.actor.getSnapshot().context.closeReason).toBe('no heartbeat for 3 intervals');
    expect(l.wire).toEqual(['welcome', 'destroy']);
    expect(l.emitted).toEqual(['admitted', 'departed']);
  });

  it('rejects with the catalog code and drains', () => {
    const l = link({ code: 'ENROLL_CLIENT_CERT_REQUIRED', params: {}, retryable: true });
    l.hello();
    l.verify();
    expect(l.actor.getSnapshot().value).toBe('draining');
    expect(l.wire).toEqual(['reject ENROLL_CLIENT_CERT_REQUIRED', 'end']);
    l.actor.send({ type: 'SOCKET_CLOSED', detail: 'closed by peer', at: 0 });
    expect(l.actor.getSnapshot().value).toBe('closed');
    expect(l.emitted).toEqual(['rejected', 'departed']);
  });

  it('closes a link that sends anything but hello first, or nothing at all', () => {
    const a = link(OK);
    a.actor.send({ type: 'HEARTBEAT', seq: 1, at: 0 });
    expect(a.actor.getSnapshot().value).toBe('closed');
    expect(a.actor.getSnapshot().context.closeReason).toBe('protocol error: heartbeat before verification');
    const b = link(OK);
    advance(b.clock, 10_000);
    expect(b.actor.getSnapshot().context.closeReason).toBe('no hello in time');
    expect(b.wire).toEqual(['destroy']);
  });

  it('says goodbye when the access point drains', () => {
    const l = link(OK);
    l.hello();
    l.verify();
    l.actor.send({ type: 'DRAIN', reason: 'shutdown' });
    expect(l.wire).toEqual(['welcome', 'goodbye shutdown', 'end']);
    advance(l.clock, 2_000);
    expect(l.actor.getSnapshot().value).toBe('closed');
  });
});
