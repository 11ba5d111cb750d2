/**
 * The executor's side of one fleet link: TCP, TLS 1.3 with ALPN `ah-fleet/1`, our own check of
 * the access point, `hello`, and then `welcome` (or `reject`). Enrollment happens on `welcome`,
 * never on `secureConnect`: in TLS 1.3 a server refuses a client certificate only after the client
 * believes the handshake is done.
 */
import { EventEmitter } from 'eventemitter3';
import { connect, type SecureContext, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import { AhError } from '../errors/ah-error.js';
import { isErrorCode } from '../errors/catalog.js';
import { verifyAccessPoint, type AccessPointTrust } from './access-point-trust.js';
import { encodeFrame, FrameDecoder, FrameError } from './frame-codec.js';
import { ALPN_PROTOCOL, parseAccessPointMessage, type AccessPointMessage, type Hello, type Welcome } from './messages.js';
import { DialSession } from './session-cache.js';
import { dialErrorToCatalog } from './tls-errors.js';

export interface DialOptions {
  readonly host: string;
  readonly port: number;
  /** HOST:PORT as the operator wrote it, for messages. */
  readonly address: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly trust: AccessPointTrust;
  readonly hello: Omit<Hello, 'type'>;
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /**
   * A ready context holding the certificate, key, trust bundle and minimum version (see
   * client-context-cache.ts); when given, `certPem`, `keyPem`, the bundle and `minVersion` are
   * not read again for this dial.
   */
  readonly secureContext?: SecureContext;
  /** The certificate's fingerprint and notAfter, when the material's summary has them (session-cache.ts). */
  readonly certificate?: { readonly fingerprint: string; readonly notAfter: number };
}

type Phase = 'connecting' | 'verifying' | 'awaiting-welcome' | 'open' | 'closed';

export interface FleetClientEvents {
  welcome: [Welcome];
  /** The link never opened. */
  failed: [AhError];
  ack: [number];
  /**
   * The access point drains and asks us to move (goodbye{reason:"draining"}): the link stays
   * open and served until we close it, once welcomed elsewhere.
   */
  draining: [retryAfterMs: number];
  /** An open link ended: the access point's goodbye, or the socket. */
  closed: [reason: string, error: AhError | null];
}

export class FleetClientLink extends EventEmitter<FleetClientEvents> {
  private socket: TLSSocket | null = null;
  private phase: Phase = 'connecting';
  private readonly decoder = new FrameDecoder();
  private executorId: string | null = null;
  /** TLS session resumption (session-cache.ts): offered when kept, kept once the access point is verified. */
  private readonly resumption: DialSession;

  constructor(private readonly options: DialOptions) {
    super();
    this.resumption = new DialSession(options);
  }

  get state(): Phase {
    return this.phase;
  }

  start(): void {
    const { host, port, certPem, keyPem, minVersion, secureContext } = this.options;
    const socket = connect({
      host,
      port,
      ...(isIP(host) ? {} : { servername: host }),
      ...(secureContext
        ? { secureContext }
        : {
            // An anonymous executor (files identity without --cert/--key) presents no certificate.
            ...(certPem ? { cert: certPem, key: keyPem } : {}),
            // With a CA, OpenSSL's verdict (authorized/authorizationError) is read by verifyAccessPoint.
            ...(this.options.trust.kind === 'ca' ? { ca: this.options.trust.bundlePem } : {}),
            minVersion: minVersion ?? 'TLSv1.3',
          }),
      ALPNProtocols: ALPN_WIRE,
      // The access point is checked by verifyAccessPoint, which can say precisely what is wrong;
      // Node's own name check would otherwise turn `authorized` false for a SPIFFE ID match.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      ...this.resumption.connectOptions(),
    });
    skipNodesPeerObjects(socket);
    this.resumption.watch(socket);
    this.socket = socket;
    socket.setNoDelay(true);
    socket.once('secureConnect', () => void this.onSecureConnect());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => this.onSocketEnd(err));
    socket.on('close', () => this.onSocketEnd(null));
  }

  sendHeartbeat(seq: number): void {
    if (this.phase === 'open') this.socket!.write(encodeFrame({ type: 'heartbeat', seq, sentAt: Date.now() }));
  }

  /** Say goodbye (if the link is up) and close once it is flushed. */
  close(reason: string): void {
    const socket = this.socket;
    if (!socket || this.phase === 'closed') return;
    const wasOpen = this.phase === 'open' || this.phase === 'awaiting-welcome';
    this.phase = 'closed';
    if (wasOpen && !socket.destroyed) {
      socket.end(encodeFrame({ type: 'goodbye', reason }));
      // A peer that never answers our FIN must not keep the socket forever.
      setTimeout(() => socket.destroy(), 2_000).unref();
    } else {
      socket.destroy();
    }
  }

  /** Resolves once the socket is fully closed. */
  closedPromise(): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.closed) return Promise.resolve();
    return new Promise((resolve) => socket.once('close', () => resolve()));
  }

  private async onSecureConnect(): Promise<void> {
    const socket = this.socket!;
    delete (socket as Partial<TLSSocket>).getPeerCertificate;
    if (this.phase !== 'connecting') return;
    this.phase = 'verifying';
    if (socket.alpnProtocol !== ALPN_PROTOCOL) {
      return this.fail(new AhError('ENROLL_PROTOCOL_ERROR', { detail: `the server did not select ALPN ${ALPN_PROTOCOL}` }));
    }
    try {
      // A resumed session carries no certificate to check: it was checked when the session was made.
      if (!this.resumption.resumed(socket)) await verifyAccessPoint(socket, this.options.trust, { address: this.options.address }, Date.now());
      this.resumption.trusted();
    } catch (err) {
      return this.fail(err instanceof AhError ? err : new AhError('ENROLL_INTERNAL', { detail: String(err) }));
    }
    if (this.phase !== 'verifying') return; // closed meanwhile
    this.phase = 'awaiting-welcome';
    socket.write(encodeFrame({ type: 'hello', ...this.options.hello }));
  }

  private onData(chunk: Buffer): void {
    if (this.phase === 'closed' || this.phase === 'connecting' || this.phase === 'verifying') return;
    let messages: AccessPointMessage[];
    try {
      messages = this.decoder.push(chunk).map(parseAccessPointMessage);
    } catch (err) {
      // A well-formed message we cannot follow (a welcome's heartbeat interval out of range).
      if (err instanceof AhError && this.phase === 'awaiting-welcome') return this.fail(err);
      const detail = err instanceof FrameError ? err.message : String(err);
      return this.phase === 'open'
        ? this.end(`protocol error: ${detail}`, new AhError('ENROLL_PROTOCOL_ERROR', { detail }))
        : this.fail(new AhError('ENROLL_PROTOCOL_ERROR', { detail }));
    }
    for (const m of messages) {
      if (this.phase === 'awaiting-welcome') {
        if (m.type === 'welcome') {
          this.phase = 'open';
          this.executorId = m.executorId;
          this.emit('welcome', m);
        } else if (m.type === 'reject') {
          this.resumption.forget();
          // Render with our own catalog when we know the code, so the wording is the guide's.
          const error = isErrorCode(m.code)
            ? new AhError(m.code, m.params ?? {})
            : AhError.fromInfo({ code: m.code, params: { message: m.message }, retryable: true });
          return this.fail(error);
        } else if (m.type === 'goodbye' && m.reason === 'draining') {
          return this.fail(new AhError('ENROLL_ACCESS_POINT_DRAINING', { address: this.options.address }));
        } else if (m.type === 'goodbye') {
          return this.fail(new AhError('ENROLL_LINK_LOST', { address: this.options.address, detail: `goodbye before welcome: ${m.reason}` }));
        } else {
          return this.fail(new AhError('ENROLL_PROTOCOL_ERROR', { detail: `${m.type} before welcome` }));
        }
      } else if (this.phase === 'open') {
        if (m.type === 'ack') this.emit('ack', m.seq);
        else if (m.type === 'goodbye' && m.reason === 'draining') this.emit('draining', m.retryAfterMs ?? 0);
        else if (m.type === 'goodbye') {
          // Another link took our identity: say so, rather than "link lost".
          const superseded =
            m.reason === 'superseded' ? new AhError('ENROLL_SUPERSEDED', { executorId: this.executorId ?? '?', address: this.options.address }) : null;
          return this.end(`access point said goodbye: ${m.reason}`, superseded);
        } else
          return this.end(`protocol error: unexpected ${m.type}`, new AhError('ENROLL_PROTOCOL_ERROR', { detail: `unexpected ${m.type} on an open link` }));
      }
    }
  }

  private onSocketEnd(err: NodeJS.ErrnoException | null): void {
    if (this.phase === 'closed') return;
    if (this.phase === 'open') {
      const detail = err ? (err.code ?? err.message) : 'connection closed by the access point';
      return this.end(detail, new AhError('ENROLL_LINK_LOST', { address: this.options.address, detail }));
    }
    const target = { host: this.options.host, address: this.options.address };
    if (err) return this.fail(dialErrorToCatalog(err, target));
    this.fail(new AhError('ENROLL_CONNECTION_FAILED', { address: this.options.address, detail: 'closed by the server during the handshake' }));
  }

  private fail(error: AhError): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.socket?.destroy();
    this.emit('failed', error);
  }

  private end(reason: string, error: AhError | null): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.socket?.end();
    this.socket?.destroy();
    this.emit('closed', reason, error);
  }
}

/**
 * `ah-fleet/1` as ALPN puts it on the wire (a length byte, then the name), in a DataView: Node copies
 * a DataView's bytes into memory of their own, where a list of names becomes an 11-byte slice of its
 * 8 KB buffer pool, kept by the secure context: the whole pool block then lives as long as the
 * executor's context (~2.7 KB an executor in a heap snapshot of 700; docs/performance.md §Slices of Node's buffer pool).
 */
export const ALPN_WIRE = (() => {
  const name = Buffer.from(ALPN_PROTOCOL, 'latin1');
  const wire = Buffer.allocUnsafeSlow(1 + name.length);
  wire[0] = name.length;
  name.copy(wire, 1);
  return new DataView(wire.buffer, wire.byteOffset, wire.byteLength);
})();

/**
 * Node's client, once OpenSSL has verified the server's chain, builds `getPeerCertificate(true)`
 * (an object of every certificate, the chain completed from the context's whole store: ~0.2 ms, a
 * tenth of a dial) only to hand it to `checkServerIdentity`, which we turn off: verifyAccessPoint
 * checks the name itself, from the X509Certificate. Until secureConnect this socket answers that
 * one call with nothing; onSecureConnect removes the stand-in before anything reads the peer.
 * (docs/performance.md §The peer's chain on a new link)
 */
function skipNodesPeerObjects(socket: TLSSocket): void {
  Object.defineProperty(socket, 'getPeerCertificate', { value: () => undefined, configurable: true, writable: true });
}
