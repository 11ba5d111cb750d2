/**
 * TLS 1.3 session resumption at the access point, stateful so that it survives a restart: OpenSSL
 * issues tickets that carry a session ID (SSL_OP_NO_TICKET), Node hands the session to
 * `newSession`, and we keep it sealed in the state dir (session-store.ts, session-keys.ts). A
 * resuming client is matched to its record through its ClientHello (client-hello.ts).
 *
 * A session is never resumed past its executor certificate's notAfter (nor past the maximum age),
 * and a resumed link's chain is verified again, against the bundle in force now (resumed-chain.ts),
 * before the policy decides on it like on any other link.
 */
import { constants, createHash, type X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Server, TlsOptions, TLSSocket } from 'node:tls';
import { AhError } from '../errors/ah-error.js';
import type { ClientHandshake } from '../model/admission.js';
import { parseCertificates } from '../x509/chain.js';
import { missingBytes, parseClientHello } from './client-hello.js';
import { type ChainCheck, checkChainAgainstBundle } from './resumed-chain.js';
import { DEFAULT_SESSION_KEY_ROTATION_MS, SessionKeys } from './session-keys.js';
import { peerCertificate, sentChain } from './peer-certificate.js';
import { sessionPeer, type SessionPeer } from './session-peer.js';
import { SessionStore, type SessionRecord } from './session-store.js';

export interface SessionResumptionOptions {
  /** The session keys (0600), in the state dir. */
  readonly keyFile: string;
  /** The sealed session records, in the state dir. */
  readonly storeFile: string;
  /** How often the session key rotates (the previous one still opens what it sealed). */
  readonly keyRotationMs?: number;
  /** A session is not resumed after this age (default: the key rotation period). */
  readonly maxAgeMs?: number;
  /** How long to wait for a ClientHello before handing the connection to TLS anyway. */
  readonly helloTimeoutMs?: number;
  readonly now?: () => number;
  /** Sessions or keys could not be written (the access point keeps serving; resumption after a restart suffers). */
  readonly onError?: (err: Error) => void;
}

/** Handshakes since start, by kind. */
export interface HandshakeCounts {
  full: number;
  resumed: number;
}

const SESSION_ID_CONTEXT = 'ah-fleet/1';
/** Chains remembered (issuers between a full handshake and its sessions; verified chains). */
const MAX_REMEMBERED_CHAINS = 65_536;
/** More than this before a complete ClientHello: not one we can read; TLS will say what it is. */
const MAX_HELLO_BYTES = 65_536;
/** Node's TLS server gives a handshake this long (`handshakeTimeout`). */
const TLS_HANDSHAKE_TIMEOUT_MS = 120_000;
const peerKey = (s: Socket) => `${s.remoteAddress}|${s.remotePort}`;

export class SessionResumption {
  readonly counts: HandshakeCounts = { full: 0, resumed: 0 };
  private bundle: X509Certificate[] | null = null;
  /** A digest of the bundle in force: what a session's record says its chain was verified against. */
  private bundleDigest: string | null = null;
  /** When the bundle last changed: a handshake begun before may end after, verified against the old one. */
  private trustChangedAt = -Infinity;
  /**
   * Leaves being resumed (by DER), with the bundle their record was verified against: the tickets
   * a resumption issues carry that over, not the bundle in force (their chain is checked later, at hello).
   */
  private readonly resumingLeaves = new Map<string, string | null>();
  /** From a ClientHello until Node asks for its session: legacy session ID → who, and the PSK identities. */
  private readonly hellos = new Map<string, { peer: string; psk: readonly string[] }>();
  /** From the ClientHello until the handshake is over, by peer address: the connection and how to forget it when it closes first. */
  private readonly handshaking = new Map<string, { socket: Socket; helloId: string; onClose: () => void }>();
  /** From `resumeSession` until the handshake is over, by peer address. */
  private readonly resuming = new Map<string, SessionRecord>();
  private readonly resumed = new WeakMap<TLSSocket, SessionRecord>();
  /** The issuers an executor sent (beyond the leaf and the bundle), by leaf fingerprint, until its sessions come. */
  private readonly chains = new Map<string, Buffer[]>();
  /**
   * Chains already verified against the bundle in force (by leaf fingerprint): a signature does not
   * change, so only validity is checked again. Emptied whenever the bundle changes.
   */
  private readonly verified = new Map<string, ChainCheck>();
  /** OpenSSL issues two tickets per handshake: the second reads the same peer again. */
  private lastPeer: SessionPeer | null = null;
  /**
   * The ticket issued just before, in this event-loop turn: when the next one is for the same
   * certificate it comes from the same handshake, and the client keeps the last one it gets.
   */
  private previousTicket: { id: string; peer: SessionPeer } | null = null;
  private readonly rotation: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly maxAgeMs: number;

  private constructor(
    private readonly keys: SessionKeys,
    private readonly store: SessionStore,
    private readonly options: SessionResumptionOptions,
  ) {
    this.now = options.now ?? Date.now;
    const rotationMs = options.keyRotationMs ?? DEFAULT_SESSION_KEY_ROTATION_MS;
    this.maxAgeMs = Math.min(options.maxAgeMs ?? rotationMs, rotationMs);
    this.rotation = setInterval(
      () => {
        try {
          this.keys.rotateIfDue(this.now());
        } catch (err) {
          options.onError?.(err as Error);
        }
      },
      Math.min(rotationMs, 3_600_000),
    );
    this.rotation.unref();
  }

  /** Opens (or creates) the keys and loads the sessions that can still be resumed. Throws the catalog's state dir error. */
  static open(options: SessionResumptionOptions): SessionResumption {
    const now = (options.now ?? Date.now)();
    let path = options.keyFile;
    try {
      const keys = SessionKeys.open(options.keyFile, { rotationMs: options.keyRotationMs, now });
      path = options.storeFile;
      const store = new SessionStore(options.storeFile, keys, undefined, options.onError);
      store.load(now);
      return new SessionResumption(keys, store, options);
    } catch (err) {
      throw new AhError('ENROLL_STATE_DIR_UNUSABLE', { path, detail: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
    }
  }

  /** Sessions that can be resumed now. */
  get sessions(): number {
    return this.store.size;
  }

  /** For the TLS server: tickets that name a session we keep, and one ID context across restarts. */
  tlsOptions(): Pick<TlsOptions, 'secureOptions' | 'sessionIdContext' | 'sessionTimeout'> {
    return {
      secureOptions: constants.SSL_OP_NO_TICKET,
      // Node's default context is a hash of the command line: a restart with other flags would
      // never resume. Whether the link is still admitted is the policy's to say, not OpenSSL's.
      sessionIdContext: SESSION_ID_CONTEXT,
      sessionTimeout: Math.ceil(this.maxAgeMs / 1000),
    };
  }

  /** The executor CA bundle in force now (null: none, dev mode). */
  trust(bundlePem: string | null): void {
    this.bundle = bundlePem ? parseCertificates(bundlePem) : null;
    const digest = this.bundle ? bundleDigest(this.bundle) : null;
    if (this.bundleDigest !== null && digest !== this.bundleDigest) this.trustChangedAt = this.now();
    this.bundleDigest = digest;
    this.verified.clear();
  }

  attach(server: Server): void {
    server.on('newSession', (id: Buffer, data: Buffer, done: () => void) => {
      this.keep(id, data);
      done();
    });
    server.on('resumeSession', (legacyId: Buffer, done: (err: Error | null, data: Buffer | null) => void) => {
      done(null, this.find(legacyId.toString('hex')));
    });
    server.on('secureConnection', (socket: TLSSocket) => this.handshakeDone(socket));
  }

  /**
   * Reads the ClientHello off a new connection, then hands the connection (bytes put back) to TLS.
   * A connection that closes meanwhile is never handed over.
   */
  peek(socket: Socket, handOver: () => void): void {
    let buffered: Buffer = Buffer.alloc(0);
    let done = false;
    const ignore = () => {};
    const onClose = () => {
      done = true;
      clearTimeout(timer);
    };
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', ignore);
      // Kept, the close listener would hold the ClientHello and these closures for the link's
      // whole life (docs/performance.md §What a link keeps).
      socket.off('close', onClose);
      if (socket.destroyed) return;
      socket.pause();
      if (buffered.length) socket.unshift(buffered);
      this.noteHello(socket, buffered);
      handOver();
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      if (missingBytes(buffered) === 0 || buffered.length > MAX_HELLO_BYTES) finish();
    };
    const timer = setTimeout(finish, this.options.helloTimeoutMs ?? 10_000);
    socket.on('data', onData);
    socket.on('error', ignore);
    // A connection that waited in the handshake queue comes paused, its first bytes put back: flow
    // them (a 'data' listener alone does not resume an explicitly paused stream).
    socket.resume();
    socket.once('close', onClose);
  }

  /**
   * What the policy reads of a resumed link: its chain checked against the bundle in force now,
   * with OpenSSL's words for what is wrong. null for a full handshake (OpenSSL verified it).
   */
  handshake(socket: TLSSocket): ClientHandshake | null {
    if (!socket.isSessionReused()) return null;
    const certificate = peerCertificate(socket);
    if (!certificate || !this.bundle) return null;
    const now = this.now();
    const known = this.verified.get(certificate.fingerprint256);
    const record = this.resumed.get(socket);
    const signaturesVerified = record?.trustedUnder !== undefined && record.trustedUnder === this.bundleDigest;
    const check =
      known && now >= known.validity.from && now <= known.validity.to
        ? known
        : checkChainAgainstBundle(certificate, record?.chain ?? [], this.bundle, now, signaturesVerified);
    if (check.error === null && check !== known) this.remember(this.verified, certificate.fingerprint256, check);
    return { certificate, chain: () => check.chain, authorized: check.error === null, authorizationError: check.error };
  }

  /** Writes what is pending and stops the rotation timer. */
  close(): void {
    clearInterval(this.rotation);
    try {
      this.store.close();
    } catch (err) {
      this.options.onError?.(err as Error);
    }
  }

  private noteHello(socket: Socket, bytes: Buffer): void {
    const hello = parseClientHello(bytes);
    if (!hello?.legacySessionId) return;
    const id = hello.legacySessionId;
    const peer = peerKey(socket);
    // TLS 1.3 names the session in its PSK identity; TLS 1.2 in the session ID itself.
    this.hellos.set(id, { peer, psk: hello.pskIdentities.length ? hello.pskIdentities : [id] });
    const onClose = () => {
      this.hellos.delete(id);
      // Only its own entry: a newer connection may have the same address and port by now.
      if (this.handshaking.get(peer)?.onClose === onClose) this.handshaking.delete(peer);
      const record = this.resuming.get(peer);
      this.resuming.delete(peer);
      if (record) this.forgetResumingLeaf(record);
    };
    socket.once('close', onClose);
    this.handshaking.set(peer, { socket, helloId: id, onClose });
  }

  private find(legacyId: string): Buffer | null {
    const hello = this.hellos.get(legacyId);
    this.hellos.delete(legacyId);
    if (!hello) return null;
    const now = this.now();
    for (const id of hello.psk) {
      const record = this.store.get(id, now);
      if (!record) continue;
      this.resuming.set(hello.peer, record);
      const leaf = sessionPeer(record.data);
      if (leaf) this.resumingLeaves.set(chainKey(leaf.der), record.trustedUnder ?? null);
      return record.data;
    }
    return null;
  }

  private handshakeDone(socket: TLSSocket): void {
    const key = peerKey(socket);
    // Its close listener is done with once the handshake is; kept, it would stay for the link's life.
    const hello = this.handshaking.get(key);
    if (hello) {
      hello.socket.off('close', hello.onClose);
      this.handshaking.delete(key);
      this.hellos.delete(hello.helloId);
    }
    const record = this.resuming.get(key);
    this.resuming.delete(key);
    if (record) this.forgetResumingLeaf(record);
    if (socket.isSessionReused()) {
      this.counts.resumed++;
      if (record) this.resumed.set(socket, record);
      return;
    }
    this.counts.full++;
    this.rememberChain(socket);
  }

  private forgetResumingLeaf(record: SessionRecord): void {
    if (!this.resumingLeaves.size) return;
    const leaf = sessionPeer(record.data);
    // Its second ticket may still be on its way in this turn.
    if (leaf) setImmediate(() => this.resumingLeaves.delete(chainKey(leaf.der)));
  }

  /** The issuers the executor sent that the bundle does not hold: a resumed link will need them. */
  private rememberChain(socket: TLSSocket): void {
    const leaf = peerCertificate(socket);
    if (!leaf) return;
    const [, ...issuers] = sentChain(leaf);
    const extra = issuers.filter((der) => !this.bundle?.some((b) => b.raw.equals(der)));
    if (!extra.length) return;
    this.remember(this.chains, chainKey(leaf.raw), extra);
  }

  private remember<T>(map: Map<string, T>, key: string, value: T): void {
    map.set(key, value);
    if (map.size > MAX_REMEMBERED_CHAINS) map.delete(map.keys().next().value!);
  }

  /** Stores a new session until its certificate's notAfter (or the maximum age, if sooner). */
  private keep(id: Buffer, data: Buffer): void {
    const peer = sessionPeer(data, this.lastPeer);
    if (!peer) return;
    this.lastPeer = peer;
    const now = this.now();
    const expiresAt = Math.min(peer.notAfter, now + this.maxAgeMs);
    if (expiresAt <= now) return;
    // The key (the leaf's DER as text, a kilobyte to encode and hash) only when there is a map to look in.
    const leafKey = this.chains.size || this.resumingLeaves.size ? chainKey(peer.der) : null;
    const chain = leafKey !== null && this.chains.size ? (this.chains.get(leafKey) ?? []) : [];
    // A full handshake: OpenSSL verified the chain against the bundle in force. A resumption: the
    // chain is as verified as the record it resumed.
    const trustedUnder =
      leafKey !== null && this.resumingLeaves.has(leafKey)
        ? this.resumingLeaves.get(leafKey)
        : now - this.trustChangedAt > TLS_HANDSHAKE_TIMEOUT_MS
          ? this.bundleDigest
          : null;
    const record = { id: id.toString('hex'), data, chain, expiresAt, ...(trustedUnder ? { trustedUnder } : {}) };
    // Keep one session per handshake: half the records, on disk and in memory.
    if (this.previousTicket?.peer === peer) this.store.drop(this.previousTicket.id);
    else if (!this.previousTicket) setImmediate(() => (this.previousTicket = null));
    this.previousTicket = { id: record.id, peer };
    this.store.put(record);
  }
}

/** The executor certificate a remembered chain belongs to (its DER: no hash to compute). */
const chainKey = (der: Buffer): string => der.toString('base64');

/** The bundle's certificates, in order, hashed. */
function bundleDigest(bundle: readonly X509Certificate[]): string {
  const hash = createHash('sha256');
  for (const cert of bundle) hash.update(cert.raw);
  return hash.digest('base64url').slice(0, 22);
}
