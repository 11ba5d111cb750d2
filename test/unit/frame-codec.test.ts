import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES } from '../../src/transport/frame-codec.js';
import { parseAccessPointMessage, parseExecutorMessage } from '../../src/transport/messages.js';

const frame = (version: number, body: Buffer) => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1, 0);
  head.writeUInt8(version, 4);
  return Buffer.concat([head, body]);
};

describe('frame codec', () => {
  it('puts a length, the version byte and JSON on the wire', () => {
    const bytes = encodeFrame({ type: 'heartbeat', seq: 7 });
    const json = '{"type":"heartbeat","seq":7}';
    expect(bytes.readUInt32BE(0)).toBe(json.length + 1);
    expect(bytes[4]).toBe(1);
    expect(bytes.subarray(5).toString()).toBe(json);
  });

  it('decodes whatever way the bytes are split or joined', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ type: fc.constant('heartbeat'), seq: fc.nat() }), { maxLength: 20 }),
        fc.array(fc.nat({ max: 200 }), { maxLength: 10 }),
        (messages, cuts) => {
          const wire = Buffer.concat(messages.map((m) => encodeFrame(m)));
          const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
          const decoder = new FrameDecoder();
          const out: unknown[] = [];
          let from = 0;
          for (const p of [...points, wire.length]) {
            out.push(...decoder.push(wire.subarray(from, p)));
            from = p;
          }
          expect(out).toEqual(messages);
        },
      ),
    );
  });

  it('refuses a frame over 64 KiB from its header alone', () => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(MAX_FRAME_BYTES + 1, 0);
    expect(() => new FrameDecoder().push(head)).toThrow(new FrameError('frame of 65537 bytes exceeds the 65536-byte limit'));
    expect(() => encodeFrame({ type: 'x', pad: 'a'.repeat(MAX_FRAME_BYTES) })).toThrow(FrameError);
  });

  it('refuses other versions, bad JSON, and JSON that is not a message', () => {
    expect(() => new FrameDecoder().push(frame(2, Buffer.from('{}')))).toThrow('unsupported protocol version 2 (this side speaks 1)');
    expect(() => new FrameDecoder().push(frame(1, Buffer.from('{')))).toThrow('frame is not valid JSON');
    expect(() => new FrameDecoder().push(frame(1, Buffer.from('[1]')))).toThrow('frame is not a message object with a type');
    expect(() => new FrameDecoder().push(Buffer.alloc(4))).toThrow('empty frame');
  });

  it('never throws anything but FrameError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          new FrameDecoder().push(Buffer.from(bytes)).forEach((m) => {
            try {
              parseExecutorMessage(m);
            } catch (e) {
              expect(e).toBeInstanceOf(FrameError);
            }
          });
        } catch (e) {
          expect(e).toBeInstanceOf(FrameError);
        }
      }),
    );
  });
});

describe('messages', () => {
  it('accepts the protocol messages and nothing else', () => {
    expect(parseExecutorMessage({ type: 'hello', name: 'a', version: '1', labels: { k: 'v' } })).toEqual({
      type: 'hello',
      name: 'a',
      version: '1',
      labels: { k: 'v' },
    });
    expect(parseExecutorMessage({ type: 'goodbye', reason: 'rotated' })).toEqual({ type: 'goodbye', reason: 'rotated' });
    expect(() => parseExecutorMessage({ type: 'welcome', executorId: 'x', heartbeatInterval: 5000, serverTime: 1 })).toThrow(
      "unexpected message type 'welcome' from executor",
    );
    expect(() => parseExecutorMessage({ type: 'heartbeat', seq: -1 })).toThrow('malformed heartbeat: seq');
    expect(() => parseExecutorMessage({ type: 'hello', name: '', version: '1' })).toThrow('malformed hello: name');
    expect(parseAccessPointMessage({ type: 'reject', code: 'ENROLL_X', message: 'm' })).toEqual({
      type: 'reject',
      code: 'ENROLL_X',
      message: 'm',
      params: undefined,
    });
    expect(() => parseAccessPointMessage({ type: 'welcome', executorId: 'x', heartbeatInterval: -1, serverTime: 1 })).toThrow(
      'malformed welcome: heartbeatInterval',
    );
    // A number outside the range is not "malformed": the executor says what it got and what it takes.
    for (const [ms, shown] of [
      [5, '5ms'],
      [25 * 86_400_000, '25d'],
    ] as const) {
      expect(() => parseAccessPointMessage({ type: 'welcome', executorId: 'x', heartbeatInterval: ms, serverTime: 1 })).toThrow(
        `the access point asked for a heartbeat every ${shown}, outside the range this executor accepts (100ms..1h)`,
      );
    }
  });
});
