/**
 * A plain grpc-js Workload API client for probing the fake (and, in integration tests, for
 * checking what an agent serves) — deliberately not the product's client, so the fake is tested
 * against the proto and the wire, not against our own interpretation of them. It can leave out
 * or spoil the security header, which no real client should do.
 */
import * as grpc from '@grpc/grpc-js';
import { loadWorkloadApi, type X509BundlesResponseMessage, type X509SvidResponseMessage } from './proto.js';

/** How to send `workload.spiffe.io`: the correct single `true`, nothing, or the given values. */
export type HeaderMode = 'ok' | 'none' | readonly string[];

export interface StreamEnd {
  readonly code: grpc.status;
  readonly details: string;
}

/**
 * A server stream's messages and its end, as promises with bounds: `next()` waits for the next
 * message not yet taken, `ended` settles with the final status (never rejects).
 */
export class StreamProbe<T> {
  readonly messages: T[] = [];
  readonly ended: Promise<StreamEnd>;
  private taken = 0;
  private waiters: Array<() => void> = [];
  private end: StreamEnd | undefined;

  constructor(private readonly call: grpc.ClientReadableStream<T>) {
    call.on('data', (message: T) => {
      this.messages.push(message);
      this.wake();
    });
    this.ended = new Promise((resolve) => {
      call.on('error', (err: grpc.ServiceError) => {
        this.end = { code: err.code, details: err.details };
        this.wake();
        resolve(this.end);
      });
      call.on('status', (status: grpc.StatusObject) => {
        if (status.code !== grpc.status.OK) return; // errors arrive through 'error' too
        this.end = { code: status.code, details: status.details };
        this.wake();
        resolve(this.end);
      });
    });
  }

  /** The next message after those already taken; rejects if the stream ends or after `timeoutMs`. */
  async next(timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (this.taken >= this.messages.length) {
      if (this.end) throw new Error(`stream ended (${grpc.status[this.end.code]}: ${this.end.details}) with no further message`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no stream message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.messages[this.taken++]!;
  }

  /** The final status, bounded. */
  async status(timeoutMs = 15_000): Promise<StreamEnd> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`stream did not end within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.ended, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Cancel from the client side; the resulting CANCELLED is ours and ignored (docs/workload-api.md
   * §grpc-js over unix sockets).
   */
  cancel(): void {
    this.call.cancel();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export class RawWorkloadClient {
  private readonly client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

  /** `target`: `unix:///abs/path` or an absolute path. */
  constructor(target: string) {
    const { Client } = loadWorkloadApi();
    const address = target.startsWith('unix:') ? target : `unix://${target}`;
    // grpc-js shares subchannels between clients of one target by default: after the agent
    // vanished, a *new* client would inherit the old subchannel's reconnect backoff and fail fast
    // with "No connection established. Last error: null". A private pool keeps each probe fresh.
    const options: grpc.ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 };
    this.client = new Client(address, grpc.credentials.createInsecure(), options) as unknown as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  }

  fetchX509Svid(header: HeaderMode = 'ok'): StreamProbe<X509SvidResponseMessage> {
    return new StreamProbe(this.client.FetchX509SVID!({}, metadata(header)) as grpc.ClientReadableStream<X509SvidResponseMessage>);
  }

  fetchX509Bundles(header: HeaderMode = 'ok'): StreamProbe<X509BundlesResponseMessage> {
    return new StreamProbe(this.client.FetchX509Bundles!({}, metadata(header)) as grpc.ClientReadableStream<X509BundlesResponseMessage>);
  }

  /** Any other server-streaming method, for its status. */
  stream(method: 'FetchJWTBundles' | 'FetchWITSVID' | 'FetchWITBundles', header: HeaderMode = 'ok'): StreamProbe<unknown> {
    return new StreamProbe(this.client[method]!({}, metadata(header)) as grpc.ClientReadableStream<unknown>);
  }

  /** A unary method; resolves with the response or the error's code and details. */
  unary(method: 'FetchJWTSVID' | 'ValidateJWTSVID', request: object, header: HeaderMode = 'ok'): Promise<{ response?: unknown; error?: StreamEnd }> {
    return new Promise((resolve) => {
      this.client[method]!(request, metadata(header), (err: grpc.ServiceError | null, response: unknown) => {
        resolve(err ? { error: { code: err.code, details: err.details } } : { response });
      });
    });
  }

  close(): void {
    this.client.close();
  }
}

function metadata(header: HeaderMode): grpc.Metadata {
  const md = new grpc.Metadata();
  if (header === 'ok') md.set('workload.spiffe.io', 'true');
  else if (header !== 'none') for (const value of header) md.add('workload.spiffe.io', value);
  return md;
}
