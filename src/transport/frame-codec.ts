/**
 * Fleet link framing: every message is
 *
 *   uint32 BE length │ uint8 protocol version │ UTF-8 JSON object with a `type`
 *
 * where length counts the version byte and the JSON. Frames above MAX_FRAME_BYTES are refused
 * before their body is buffered, so a peer cannot make us hold more than one limit's worth.
 */
export const PROTOCOL_VERSION = 1;
export const MAX_FRAME_BYTES = 64 * 1024;
const HEADER_BYTES = 4;

export class FrameError extends Error {
  override readonly name = 'FrameError';
}

export function encodeFrame<T extends { type: string }>(message: T): Buffer {
  const json = Buffer.from(JSON.stringify(message), 'utf8');
  const length = json.length + 1;
  if (length > MAX_FRAME_BYTES) throw new FrameError(`frame of ${length} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
  const frame = Buffer.allocUnsafe(HEADER_BYTES + length);
  frame.writeUInt32BE(length, 0);
  frame.writeUInt8(PROTOCOL_VERSION, HEADER_BYTES);
  json.copy(frame, HEADER_BYTES + 1);
  return frame;
}

/** Incremental decoder: feed socket chunks, get whole messages; throws FrameError on bad input. */
export class FrameDecoder {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;

  push(chunk: Buffer): Array<Record<string, unknown> & { type: string }> {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    const out: Array<Record<string, unknown> & { type: string }> = [];
    for (;;) {
      if (this.bufferedBytes < HEADER_BYTES) break;
      const head = this.peek(HEADER_BYTES);
      const length = head.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES) {
        throw new FrameError(`frame of ${length} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
      }
      if (length === 0) throw new FrameError('empty frame');
      if (this.bufferedBytes < HEADER_BYTES + length) break;
      const frame = this.take(HEADER_BYTES + length);
      const version = frame.readUInt8(HEADER_BYTES);
      if (version !== PROTOCOL_VERSION) {
        throw new FrameError(`unsupported protocol version ${version} (this side speaks ${PROTOCOL_VERSION})`);
      }
      let message: unknown;
      try {
        message = JSON.parse(frame.toString('utf8', HEADER_BYTES + 1));
      } catch {
        throw new FrameError('frame is not valid JSON');
      }
      if (!message || typeof message !== 'object' || Array.isArray(message) || typeof (message as { type?: unknown }).type !== 'string') {
        throw new FrameError('frame is not a message object with a type');
      }
      out.push(message as Record<string, unknown> & { type: string });
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.buffered[0]!.length >= n) return this.buffered[0]!;
    const joined = Buffer.concat(this.buffered);
    this.buffered = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const joined = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
    const frame = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.buffered = rest.length ? [rest] : [];
    this.bufferedBytes = rest.length;
    return frame;
  }
}
