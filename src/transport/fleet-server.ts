/**
 * The access point's side of the fleet link: a node:tls server that asks for a client certificate
 * but does not let OpenSSL refuse it, so the connection machine can answer with a `reject` that
 * says why. Each accepted socket becomes a ServerLink that turns bytes into messages.
 */
import { EventEmitter } from 'eventemitter3';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer, type SecureContextOptions, type Server, type TLSSocket } from 'node:tls';
import { formatHostPort, type HostPort } from '../util/address.js';
import { encodeFrame, FrameDecoder, FrameError } from './frame-codec.js';
import type { ClientHandshake } from './executor-policy.js';
import type { HandshakeGate, ShedReason, Ticket } from './handshake-gate.js';
import { ALPN_PROTOCOL, parseExecutorMessage, type AccessPointMessage, type ExecutorMessage } from './messages.js';
import { spkiOf, type Spki } from './continuity.js';
import { forgetPeerCertificate, peerCertificate, sentChain } from './peer-certificate.js';
import type { SessionResumption } from './session-resumption.js';

/**
 * The kernel's accept queue for the fleet port (capped by net.core.somaxconn). Node's 511 overflows
 * when a fleet redials at once (an access point restart): a dropped SYN is retried by the
 * executor's kernel after 1, 3, 7, 15 s, which is what the slowest executors then wait.
 */
export const LISTEN_BACKLOG = 4096;

export interface ServerIdentity {
  readonly certPem: string;
  readonly keyPem: string;
  /** Executors must chain to these (`--ca`); null admits any certificate (dev mode). */
  readonly clientCaPem: string | null;
}

export interface FleetServerOptions {
  readonly listen: HostPort;
  readonly identity: ServerIdentity;
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** A TLS handshake must finish within this (slowloris guard). */
  readonly handshakeTimeoutMs?: number;
  /** Admission at TCP accept (handshakes in flight, their queue, per-source rate); none admits every connection. */
  readonly gate?: HandshakeGate;
  /** TLS 1.3 session resumption that survives a restart (session-resumption.ts); none: full handshakes only. */
  readonly resumption?: SessionResumption;
}

interface FleetServerEvents {
  link: [ServerLink];
  /** A client that never got as far as a secure connection (not TLS, wrong ALPN, reset). */
  refused: [{ remoteAddress: string; reason: string }];
  /** A TCP connection closed before any TLS byte by the handshake gate: at accept, or after waiting in its queue. */
  shed: [{ remoteAddress: string; sourceAddress: string; reason: ShedReason }];
}

let linkCounter = 0;

/** The chain of a link whose certificate was let go: one function for all of them. */
const NO_CHAIN = (): Buffer[] => [];

export class ServerLink extends EventEmitter<{
  message: [ExecutorMessage];
  protocolError: [string];
  closed: [string];
}> {
  readonly id = `link-${++linkCounter}`;
  readonly remoteAddress: string;
  /** The peer's IP alone (what per-source limits count by), kept after the socket closes. */
  readonly sourceAddress: string;
  private readonly decoder = new FrameDecoder();
  private closed = false;
  private peer: ClientHandshake | null = null;
  /** The peer certificate's public key, kept for the link's life (continuity proofs, the fleet roster). */
  private spki: Spki | null = null;
  /** The certificate was let go (releaseCertificate). */
  private released = false;

  constructor(
    readonly socket: TLSSocket,
    private readonly resumption?: SessionResumption,
  ) {
    super();
    this.remoteAddress = formatHostPort({ host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 });
    this.sourceAddress = socket.remoteAddress ?? '?';
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.onClose((err as NodeJS.ErrnoException).code ?? err.message));
    socket.on('close', () => this.onClose('closed by peer'));
  }

  /**
   * The client's certificate and OpenSSL's verdict on it, parsed once for the policy and the logs.
   * Once the link is admitted and its certificate let go, the verdict without the certificate.
   */
  get handshake(): ClientHandshake {
    if (this.released) return this.peer!;
    let chain: Buffer[] | undefined;
    // A resumed session skipped OpenSSL's chain check: it is checked against the bundle of now.
    const resumed = this.resumption?.handshake(this.socket);
    const certificate = resumed ? resumed.certificate : peerCertificate(this.socket);
    this.peer ??= resumed ?? {
      certificate,
      chain: () => (chain ??= sentChain(certificate)),
      authorized: this.socket.authorized,
      authorizationError: this.socket.authorizationError ? String(this.socket.authorizationError) : null,
    };
    return this.peer;
  }

  /** The public key (SPKI DER) of the certificate the link was opened with; null without one. */
  get peerSpki(): Spki | null {
    if (this.spki === null && !this.released) {
      const certificate = this.handshake.certificate;
      this.spki = certificate ? spkiOf(certificate) : null;
    }
    return this.spki;
  }

  /**
   * The link is admitted: let go of the peer's X509Certificate objects (the leaf and the issuers it
   * links to), keeping its public key. Each wraps an OpenSSL certificate that V8 frees only in the
   * weak callbacks of the GC that finds it dead; held for a link's life they reach the old
   * generation, and a rotation storm's ten thousand old links then freed ~20,000 of them in one full
   * GC, a pause of several hundred milliseconds for every link (docs/performance.md §OpenSSL objects that V8 frees).
   */
  releaseCertificate(): void {
    if (this.released) return;
    const { authorized, authorizationError } = this.handshake;
    // Read the public key now, while the certificate is at hand.
    this.spki = this.peerSpki;
    this.released = true;
    this.peer = { certificate: undefined, chain: NO_CHAIN, authorized, authorizationError };
    forgetPeerCertificate(this.socket);
  }

  send(message: AccessPointMessage): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(encodeFrame(message));
  }

  /** Close after what was written is flushed. */
  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    let messages: ExecutorMessage[];
    try {
      messages = this.decoder.push(chunk).map(parseExecutorMessage);
    } catch (err) {
      // Stop reading at the first bad byte; the machine decides how to close.
      this.socket.pause();
      this.emit('protocolError', err instanceof FrameError ? err.message : String(err));
      return;
    }
    for (const m of messages) this.emit('message', m);
  }

  private onClose(detail: string): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('closed', detail);
  }
}

const socketKey = (s: Socket) => `${s.remoteAddress}|${s.remotePort}`;
const remoteOf = (s: Socket) => formatHostPort({ host: s.remoteAddress ?? '?', port: s.remotePort ?? 0 });

/**
 * What a queued connection sent before its turn (a ClientHello is a few KB at most). Past this the
 * socket stops being read; TLS gets what was read and judges it.
 */
const MAX_HELD_BYTES = 64 * 1024;

export class FleetServer extends EventEmitter<FleetServerEvents> {
  private readonly server: Server;
  /**
   * The listening socket is a plain TCP server that hands admitted connections to the TLS server
   * (`'connection'`), so a shed or waiting connection gets no TLS byte.
   */
  private readonly tcp: TcpServer;
  /** Connections in their handshake or waiting for one, by `address|port`, until secure, failed or closed. */
  private readonly handshaking = new Map<string, { ticket: Ticket; socket: Socket; onClose: () => void }>();
  /** Connections waiting for a handshake place, with how to hand back what they sent meanwhile. */
  private readonly waiting = new Map<Socket, () => void>();
  private closing = false;

  constructor(private readonly options: FleetServerOptions) {
    super();
    this.server = createServer({
      ...FleetServer.secureContextOptions(options.identity, options.resumption),
      requestCert: true,
      // We verify the client certificate ourselves after the handshake (executor-policy.ts).
      rejectUnauthorized: false,
      ALPNProtocols: [ALPN_PROTOCOL],
      minVersion: options.minVersion ?? 'TLSv1.3',
      handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
    });
    options.resumption?.attach(this.server);
    this.tcp = createTcpServer((socket) => this.onTcpConnection(socket));
    this.server.on('secureConnection', (socket: TLSSocket) => this.onSecureConnection(socket));
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      this.handshakeOver(socket);
      this.emit('refused', { remoteAddress: remoteOf(socket), reason: err.code ?? err.message });
      socket.destroy();
    });
  }

  static secureContextOptions(identity: ServerIdentity, resumption?: SessionResumption): SecureContextOptions {
    resumption?.trust(identity.clientCaPem);
    // setSecureContext() resets the session options it is not given: they go with every context.
    return { cert: identity.certPem, key: identity.keyPem, ...(identity.clientCaPem ? { ca: identity.clientCaPem } : {}), ...resumption?.tlsOptions() };
  }

  listen(): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.tcp.once('error', onError);
      this.tcp.listen({ port: this.options.listen.port, host: this.options.listen.host, backlog: LISTEN_BACKLOG }, () => {
        this.tcp.off('error', onError);
        const addr = this.tcp.address();
        resolve(typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : this.options.listen);
      });
    });
  }

  /** New connections use this identity; established links keep theirs. */
  useIdentity(identity: ServerIdentity): void {
    this.server.setSecureContext(FleetServer.secureContextOptions(identity, this.options.resumption));
  }

  /**
   * Stop accepting, and close the connections still waiting for a handshake or in one (a link
   * that became secure after the caller drained its links would keep the server open); links are
   * the caller's to close.
   */
  close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const { socket } of [...this.handshaking.values()]) socket.destroy();
    return closed;
  }

  private onTcpConnection(socket: Socket): void {
    const gate = this.options.gate;
    if (!gate) return this.startTls(socket);
    const verdict = gate.enter(socket.remoteAddress ?? '?', {
      admitted: () => this.admitWaiting(socket, ticket),
      expired: () => this.shed(socket, 'queue_timeout'),
    });
    if (typeof verdict === 'string') return this.shed(socket, verdict);
    const ticket = verdict;
    const key = socketKey(socket);
    const entry = {
      ticket,
      socket,
      onClose: () => {
        // Leaves the queue, or frees the handshake place for the next in line.
        ticket.release();
        this.waiting.delete(socket);
        if (this.handshaking.get(key) === entry) this.handshaking.delete(key);
      },
    };
    this.handshaking.set(key, entry);
    socket.once('close', entry.onClose);
    if (ticket.queued) this.hold(socket);
    else this.startTls(socket);
  }

  /**
   * A connection waits its turn unread by TLS: what it sends is kept aside (to be handed to TLS
   * with the socket), and its end or reset is noticed, so a client that gives up leaves the queue.
   */
  private hold(socket: Socket): void {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      bytes += chunk.length;
      if (bytes >= MAX_HELD_BYTES) socket.pause();
    };
    const onEnd = () => socket.destroy();
    const onError = () => socket.destroy();
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    this.waiting.set(socket, () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.pause();
      if (bytes > 0) socket.unshift(Buffer.concat(chunks, bytes));
    });
  }

  /** Its turn came: TLS reads what it sent meanwhile, then the socket itself. */
  private admitWaiting(socket: Socket, ticket: Ticket): void {
    const handBack = this.waiting.get(socket);
    this.waiting.delete(socket);
    if (this.closing || socket.destroyed || !handBack) {
      socket.destroy();
      ticket.release();
      return;
    }
    handBack();
    this.startTls(socket);
  }

  /** TLS takes the socket; with resumption, once the ClientHello's session identity has been read. */
  private startTls(socket: Socket): void {
    const handOver = () => this.server.emit('connection', socket);
    if (this.options.resumption) this.options.resumption.peek(socket, handOver);
    else handOver();
  }

  /** Closed without a byte: no TLS alert, nothing an attacker can measure but the close. */
  private shed(socket: Socket, reason: ShedReason): void {
    // Read before destroy: a closed socket no longer knows its peer.
    const shed = { remoteAddress: remoteOf(socket), sourceAddress: socket.remoteAddress ?? '?', reason };
    this.waiting.delete(socket);
    socket.destroy();
    this.emit('shed', shed);
  }

  /**
   * The TLS socket of a connection has the raw socket's address and port. Its close listener goes
   * too: kept, it would hold the ticket and the gate's callbacks for the link's whole life
   * (docs/performance.md §What a link keeps).
   */
  private handshakeOver(socket: TLSSocket): void {
    const key = socketKey(socket);
    const entry = this.handshaking.get(key);
    if (!entry) return;
    entry.ticket.release();
    entry.socket.off('close', entry.onClose);
    this.handshaking.delete(key);
  }

  private onSecureConnection(socket: TLSSocket): void {
    this.handshakeOver(socket);
    socket.setNoDelay(true);
    if (socket.alpnProtocol !== ALPN_PROTOCOL) {
      this.emit('refused', { remoteAddress: remoteOf(socket), reason: `client did not negotiate ALPN ${ALPN_PROTOCOL}` });
      socket.destroy();
      return;
    }
    this.emit('link', new ServerLink(socket, this.options.resumption));
  }
}
