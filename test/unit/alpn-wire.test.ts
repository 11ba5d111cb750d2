/**
 * The executor's ALPN list as Node keeps it for a link: `ah-fleet/1` on the wire, in memory of its
 * own rather than a slice of Node's 8 KB buffer pool (docs/performance.md §Slices of Node's buffer pool).
 */
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { ALPN_WIRE } from '../../src/transport/fleet-client.js';
import { ALPN_PROTOCOL } from '../../src/transport/messages.js';

// Node's own conversion (node:tls), the one tls.connect applies to the option.
const convert = (tls as unknown as { convertALPNProtocols(p: unknown, out: { ALPNProtocols?: Buffer }): void }).convertALPNProtocols;

describe('the executor ALPN list', () => {
  it('is ah-fleet/1 in the wire form, and Node keeps it in memory of its own', () => {
    const out: { ALPNProtocols?: Buffer } = {};
    convert(ALPN_WIRE, out);
    const kept = out.ALPNProtocols!;
    expect([...kept]).toEqual([ALPN_PROTOCOL.length, ...Buffer.from(ALPN_PROTOCOL, 'latin1')]);
    expect(kept.buffer.byteLength).toBe(kept.byteLength);
  });
});
