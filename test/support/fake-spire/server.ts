/**
 * A fake SPIRE agent: the SPIFFE Workload API served with @grpc/grpc-js on a real unix socket,
 * behaving as docs/workload-api.md says SPIRE's agent does, plus knobs to make it misbehave on
 * demand.
 *
 * One instance is one agent on one socket, serving one workload. A real agent tells callers apart
 * by attesting the calling process; a fake cannot, so every caller of an instance is "the workload"
 * and gets the identities registered on it (the first registered is the default). Two workloads
 * with different identities (an executor and an access point) use two instances on two sockets
 * sharing one `FakeTrustDomain` — which is also how two hosts under one SPIRE server look.
 *
 * The socket itself (and why we own its connections) is in unix-listener.ts.
 */
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'eventemitter3';
import { isAbsolute } from 'node:path';
import { fingerprint, svidChainPem, svidKeyPem, pemOf, type IssuedSvid, type SvidDefect } from './ca.js';
import {
  loadWorkloadApi,
  type JwtSvidRequestMessage,
  type ValidateJwtSvidRequestMessage,
  type X509BundlesResponseMessage,
  type X509SvidResponseMessage,
} from './proto.js';
import { composeX509BundlesResponse, composeX509SvidResponse, sameBundles, type WorkloadIdentity, type WorkloadUpdate } from './responses.js';
import { Serial } from './serial.js';
import { parseSpiffeId } from './spiffe-id.js';
import * as S from './status.js';
import { FakeTrustDomain, type CaRotation, type RotateCaOptions, type TrustDomainChange, type TrustDomainOptions } from './trust-domain.js';
import { UnixGrpcListener } from './unix-listener.js';

/**
 * Linux `sun_path` is 108 bytes with the NUL; longer paths bind under a truncated name
 * (§grpc-js over unix sockets).
 */
const MAX_SOCKET_PATH_BYTES = 107;
/** SPIRE server's default X509-SVID TTL (§Streams). */
const DEFAULT_SVID_TTL_MS = 3_600_000;

export interface FakeSpireOptions {
  /** Absolute path of the socket, or `unix:///abs/path`. The directory is created if missing. */
  readonly socketPath: string;
  /** A name creates a fresh trust domain; pass a `FakeTrustDomain` to share one between agents. */
  readonly trustDomain: string | FakeTrustDomain;
  /** Used only when `trustDomain` is a name. */
  readonly trustDomainOptions?: TrustDomainOptions;
  /** Trust domains whose bundles this workload receives as `federated_bundles`. */
  readonly federatesWith?: readonly FakeTrustDomain[];
  /** Default SVID lifetime for `register()`; 1 h like SPIRE. */
  readonly svidTtlMs?: number;
  /** Re-issue each SVID at half its lifetime and push it, as the SPIRE agent does. Default false. */
  readonly autoRotate?: boolean;
  /** SPIRE's `allow_unauthenticated_verifiers`: bundles without an identity. Default false. */
  readonly allowUnauthenticatedVerifiers?: boolean;
  /** Human-readable activity lines (the CLI prints them). */
  readonly log?: (line: string) => void;
}

export interface RegisterOptions {
  readonly ttlMs?: number;
  /**
   * The entry's hint (§What SPIRE puts in the fields); of two identities with one hint, the older
   * entry is served.
   */
  readonly hint?: string;
  readonly dnsNames?: readonly string[];
  /** Issue a non-conforming SVID for this entry (fault tests; SPIRE never does). */
  readonly defect?: SvidDefect;
}

export interface RotateOptions {
  /** Change the entry's TTL from now on. */
  readonly ttlMs?: number;
  /** Issue a non-conforming SVID this time (fault tests). Absent: a conforming one. */
  readonly defect?: SvidDefect;
}

export interface GarbageOptions {
  /** The bytes to send; default: 64 bytes that do not start a DER SEQUENCE. */
  readonly bytes?: Buffer;
  /** Which field of the default SVID to spoil. Default `x509_svid`. */
  readonly field?: 'x509_svid' | 'x509_svid_key' | 'bundle';
}

export interface StopOptions {
  /**
   * Leave the socket file behind with nobody listening, as a SPIRE agent killed with SIGKILL
   * does: clients then get ECONNREFUSED instead of ENOENT. Default: the file is removed, as it is
   * when the agent exits cleanly.
   */
  readonly leaveStaleSocket?: boolean;
}

export interface StartOptions {
  /** Keep the SVIDs across the restart. Default false: a restarted agent mints new ones. */
  readonly keepSvids?: boolean;
}

/** An SVID as a test wants to look at it. */
export interface SvidSnapshot {
  readonly spiffeId: string;
  readonly hint: string;
  /** Lowercase hex. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Leaf first, then intermediates. */
  readonly chainPem: string;
  readonly leafPem: string;
  readonly keyPem: string;
  readonly defect: SvidDefect | null;
}

export interface FakeSpireStats {
  connectionsOpen: number;
  connectionsTotal: number;
  /** Every RPC that reached the fake. */
  callsTotal: number;
  /** RPCs that carried exactly one `workload.spiffe.io: true` (§The security header). */
  headersSeen: number;
  /** RPCs refused with `security header missing from request`. */
  headersRejected: number;
  x509StreamsOpen: number;
  x509StreamsTotal: number;
  bundleStreamsOpen: number;
  x509MessagesSent: number;
  bundleMessagesSent: number;
  garbageMessagesSent: number;
  /** RPCs and streams ended with `no identity issued`. */
  permissionDenied: number;
}

export interface FakeSpireEvents {
  call: [{ method: string; headerOk: boolean }];
  /** After each X509-SVID message, with the message exactly as sent (garbage included). */
  'x509-push': [X509SvidResponseMessage, { streams: number; garbage: boolean }];
  'bundles-push': [X509BundlesResponseMessage];
  stats: [FakeSpireStats];
  log: [string];
}

interface Entry {
  readonly entryId: number;
  readonly spiffeId: string;
  readonly hint: string;
  readonly dnsNames: readonly string[];
  ttlMs: number;
  svid: IssuedSvid;
  rotateTimer?: NodeJS.Timeout;
}

type X509Call = grpc.ServerWritableStream<unknown, X509SvidResponseMessage>;
type BundlesCall = grpc.ServerWritableStream<unknown, X509BundlesResponseMessage>;

interface BundlesSubscriber {
  readonly call: BundlesCall;
  previous: X509BundlesResponseMessage | undefined;
}

export class FakeSpire extends EventEmitter<FakeSpireEvents> {
  readonly socketPath: string;
  readonly trustDomain: FakeTrustDomain;
  private readonly stats_: FakeSpireStats = {
    connectionsOpen: 0,
    connectionsTotal: 0,
    callsTotal: 0,
    headersSeen: 0,
    headersRejected: 0,
    x509StreamsOpen: 0,
    x509StreamsTotal: 0,
    bundleStreamsOpen: 0,
    x509MessagesSent: 0,
    bundleMessagesSent: 0,
    garbageMessagesSent: 0,
    permissionDenied: 0,
  };
  private readonly entries: Entry[] = [];
  private nextEntryId = 1;
  private readonly federated = new Map<FakeTrustDomain, () => void>();
  private readonly x509Streams = new Set<X509Call>();
  private readonly bundleStreams = new Set<BundlesSubscriber>();
  private readonly serial = new Serial();
  private readonly unsubscribeOwn: () => void;
  private listening: UnixGrpcListener | undefined;
  private garbage: Required<GarbageOptions> | undefined;
  private attestationFails = false;
  private closed = false;

  constructor(
    private readonly opts: FakeSpireOptions & { readonly trustDomain: FakeTrustDomain },
    private readonly ownsTrustDomain: boolean,
  ) {
    super();
    this.socketPath = normaliseSocketPath(opts.socketPath);
    this.trustDomain = opts.trustDomain;
    this.unsubscribeOwn = this.trustDomain.subscribe((change) => this.onTrustDomainChange(change, true));
    for (const td of opts.federatesWith ?? [])
      this.federated.set(
        td,
        td.subscribe((change) => this.onTrustDomainChange(change, false)),
      );
  }

  /** `unix:///…` for gRPC clients and `SPIFFE_ENDPOINT_SOCKET` (§SPIFFE_ENDPOINT_SOCKET). */
  get target(): string {
    return `unix://${this.socketPath}`;
  }

  get isListening(): boolean {
    return this.listening !== undefined;
  }

  /** A copy of the counters. */
  get stats(): Readonly<FakeSpireStats> {
    return { ...this.stats_ };
  }

  // ---------------------------------------------------------------- registration entries

  /**
   * Give the workload an identity (SPIRE: create a registration entry that matches it). Open
   * streams get a full-state push. Identities are served in registration order; the first is the
   * default. The SPIFFE ID must be in this agent's trust domain, as SPIRE requires.
   */
  register(spiffeId: string, options: RegisterOptions = {}): Promise<SvidSnapshot> {
    return this.serial.run(async () => {
      const { trustDomain } = parseSpiffeId(spiffeId);
      if (trustDomain !== this.trustDomain.name) {
        throw new Error(`fake-spire: ${spiffeId} is not in trust domain ${this.trustDomain.name}`);
      }
      if (this.entries.some((e) => e.spiffeId === spiffeId)) {
        throw new Error(`fake-spire: ${spiffeId} is already registered; use rotate() for a new SVID`);
      }
      const ttlMs = options.ttlMs ?? this.opts.svidTtlMs ?? DEFAULT_SVID_TTL_MS;
      const dnsNames = options.dnsNames ?? [];
      const svid = await this.trustDomain.signer.issueSvid(spiffeId, { ttlMs, dnsNames, defect: options.defect });
      const entry: Entry = { entryId: this.nextEntryId++, spiffeId, hint: options.hint ?? '', dnsNames, ttlMs, svid };
      this.entries.push(entry);
      this.scheduleAutoRotation(entry);
      this.log(`registered ${spiffeId} (serial ${svid.serial}, until ${svid.notAfter.toISOString()})`);
      this.broadcast();
      return snapshot(entry);
    });
  }

  /**
   * Remove one identity, or all of them. Open streams get the remaining state (the removed SVID
   * is redacted by its absence); with none left they end PERMISSION_DENIED "no identity issued"
   * and new calls get the same (§Status codes).
   */
  unregister(spiffeId?: string): Promise<void> {
    return this.serial.run(async () => {
      let removed: Entry[];
      if (spiffeId === undefined) {
        removed = this.entries.splice(0);
      } else {
        const index = this.entries.findIndex((e) => e.spiffeId === spiffeId);
        if (index === -1) throw new Error(`fake-spire: ${spiffeId} is not registered`);
        removed = this.entries.splice(index, 1);
      }
      for (const entry of removed) clearTimeout(entry.rotateTimer);
      this.log(`unregistered ${removed.map((e) => e.spiffeId).join(', ') || 'nothing'}`);
      this.broadcast();
    });
  }

  /** Mint a new SVID (new key) for one identity, or for all, and push the full state. */
  rotate(spiffeId?: string, options: RotateOptions = {}): Promise<SvidSnapshot[]> {
    return this.serial.run(async () => {
      const targets = spiffeId === undefined ? [...this.entries] : this.entries.filter((e) => e.spiffeId === spiffeId);
      if (targets.length === 0) throw new Error(`fake-spire: nothing to rotate${spiffeId ? `: ${spiffeId} is not registered` : ''}`);
      await this.reissue(targets, options);
      this.broadcast();
      return targets.map(snapshot);
    });
  }

  /** The workload's SVIDs as served now, default first (before hint filtering). */
  svids(): SvidSnapshot[] {
    return this.entries.map(snapshot);
  }

  // ---------------------------------------------------------------- trust bundles

  /** Rotate this agent's trust domain CA (all agents sharing it push); see FakeTrustDomain.rotateCa. */
  rotateCa(options?: RotateCaOptions): Promise<CaRotation> {
    return this.trustDomain.rotateCa(options);
  }

  /** End a CA rotation's overlap now. */
  dropOldCa(): Promise<void> {
    return this.trustDomain.dropOldCa();
  }

  /** The own trust domain's bundle, PEM, oldest CA first. */
  bundlePem(): string {
    return this.trustDomain.bundlePem();
  }

  /** The root CA that signs (or whose intermediate signs) current SVIDs, PEM. */
  caPem(): string {
    return this.trustDomain.caPem();
  }

  /** Start sending `td`'s bundle in `federated_bundles` (push). */
  federateWith(td: FakeTrustDomain): Promise<void> {
    return this.serial.run(async () => {
      if (td === this.trustDomain || this.federated.has(td)) return;
      this.federated.set(
        td,
        td.subscribe((change) => this.onTrustDomainChange(change, false)),
      );
      this.broadcast();
    });
  }

  /** Stop sending `td`'s bundle: the next push lacks its key, which is a redaction (§Streams). */
  unfederate(td: FakeTrustDomain): Promise<void> {
    return this.serial.run(async () => {
      const unsubscribe = this.federated.get(td);
      if (!unsubscribe) return;
      unsubscribe();
      this.federated.delete(td);
      this.broadcast();
    });
  }

  // ---------------------------------------------------------------- faults

  /**
   * Spoil one field of the default SVID in the next X509-SVID push. With streams open that push
   * happens now (same state otherwise); with none, the next stream's first message carries it.
   * One shot: the push after it is clean again. Resolves with the number of streams that got it.
   */
  pushGarbage(options: GarbageOptions = {}): Promise<number> {
    return this.serial.run(async () => {
      this.garbage = { bytes: options.bytes ?? defaultGarbage(), field: options.field ?? 'x509_svid' };
      const streams = this.x509Streams.size;
      if (streams > 0) this.broadcast();
      return streams;
    });
  }

  /** While on, every call fails UNAVAILABLE "workload attestation failed" (§Status codes). */
  failAttestation(on = true): void {
    this.attestationFails = on;
  }

  /**
   * End every open stream with a status while the socket stays up — by default UNAVAILABLE
   * "could not serialize response: …", the one UNAVAILABLE SPIRE sends mid-stream (§Status codes).
   */
  breakStreams(status: S.SpireStatus = S.couldNotSerializeResponse('injected by fake-spire')): Promise<number> {
    return this.serial.run(async () => {
      const calls = [...this.x509Streams, ...[...this.bundleStreams].map((b) => b.call)];
      this.x509Streams.clear();
      this.bundleStreams.clear();
      for (const call of calls) endWith(call, status);
      this.touchStats();
      return calls.length;
    });
  }

  // ---------------------------------------------------------------- lifecycle

  /** Listen on the socket (again). A stale socket file is removed first, as SPIRE does. */
  start(options: StartOptions = {}): Promise<void> {
    return this.serial.run(async () => {
      if (this.closed) throw new Error('fake-spire: closed');
      if (this.listening) return;
      if (!options.keepSvids && this.entries.length > 0) await this.reissue(this.entries, {});
      else for (const entry of this.entries) this.scheduleAutoRotation(entry);
      await this.listen();
    });
  }

  /**
   * Vanish as an exiting SPIRE agent does: connections are dropped (open streams fail with
   * UNAVAILABLE on the client) and the socket file disappears (new calls fail with ENOENT), or
   * stays behind dead with `leaveStaleSocket` (ECONNREFUSED).
   */
  stop(options: StopOptions = {}): Promise<void> {
    return this.serial.run(() => this.stopNow(options));
  }

  /** `stop()` then `start()` on the same path; SVIDs are re-minted unless `keepSvids`. */
  async restart(options: StopOptions & StartOptions = {}): Promise<void> {
    await this.stop(options);
    await this.start(options);
  }

  /** Stop for good: socket gone, timers cleared, trust domain subscriptions dropped. */
  async close(): Promise<void> {
    await this.serial.run(async () => {
      if (this.closed) return;
      await this.stopNow({});
      this.closed = true;
      for (const entry of this.entries) clearTimeout(entry.rotateTimer);
      this.unsubscribeOwn();
      for (const unsubscribe of this.federated.values()) unsubscribe();
      this.federated.clear();
      if (this.ownsTrustDomain) this.trustDomain.dispose();
    });
  }

  /** Resolves once `test(stats)` holds (checked now and on every change); rejects after `timeoutMs`. */
  waitUntil(test: (stats: Readonly<FakeSpireStats>) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    if (test(this.stats_)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onStats = (stats: FakeSpireStats) => {
        if (!test(stats)) return;
        clearTimeout(timer);
        this.off('stats', onStats);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off('stats', onStats);
        reject(new Error(`fake-spire: ${what} did not happen within ${timeoutMs} ms (stats: ${JSON.stringify(this.stats_)})`));
      }, timeoutMs);
      this.on('stats', onStats);
    });
  }

  /** Resolves when at least `n` FetchX509SVID streams are open (i.e. the client is subscribed). */
  waitForX509Streams(n = 1, timeoutMs?: number): Promise<void> {
    return this.waitUntil((s) => s.x509StreamsOpen >= n, `${n} open FetchX509SVID stream(s)`, timeoutMs);
  }

  /** Resolves with the next X509-SVID push (as sent to all open streams). */
  nextX509Push(timeoutMs = 15_000): Promise<X509SvidResponseMessage> {
    return new Promise((resolve, reject) => {
      const onPush = (message: X509SvidResponseMessage) => {
        clearTimeout(timer);
        resolve(message);
      };
      const timer = setTimeout(() => {
        this.off('x509-push', onPush);
        reject(new Error(`fake-spire: no X509-SVID push within ${timeoutMs} ms`));
      }, timeoutMs);
      this.once('x509-push', onPush);
    });
  }

  // ---------------------------------------------------------------- internals: socket

  private async listen(): Promise<void> {
    this.listening = await UnixGrpcListener.listen(this.socketPath, loadWorkloadApi().service, this.handlers(), {
      onConnection: (open) => {
        this.stats_.connectionsOpen += open ? 1 : -1;
        if (open) this.stats_.connectionsTotal++;
        this.touchStats();
      },
    });
    this.log(`listening on ${this.socketPath}`);
  }

  private async stopNow(options: StopOptions): Promise<void> {
    const listener = this.listening;
    if (!listener) return;
    this.listening = undefined;
    for (const entry of this.entries) clearTimeout(entry.rotateTimer);
    // The streams die with their connections; no status is sent, as when SPIRE's process goes.
    this.x509Streams.clear();
    this.bundleStreams.clear();
    await listener.close({ leaveStaleSocket: options.leaveStaleSocket });
    this.touchStats();
    this.log(`stopped${options.leaveStaleSocket ? ' (stale socket left behind)' : ''}`);
  }

  // ---------------------------------------------------------------- internals: RPCs

  private handlers(): grpc.UntypedServiceImplementation {
    return {
      FetchX509SVID: (call: X509Call) => this.fetchX509Svid(call),
      FetchX509Bundles: (call: BundlesCall) => this.fetchX509Bundles(call),
      FetchJWTSVID: (call: grpc.ServerUnaryCall<JwtSvidRequestMessage, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        // SPIRE checks the request before attesting (§Status codes, handler.go lines 100/106).
        const requested = call.request.spiffe_id;
        const status =
          this.admit(call, 'FetchJWTSVID', () => {
            if (call.request.audience.length === 0) return S.AUDIENCE_MUST_BE_SPECIFIED;
            if (requested !== '') {
              try {
                parseSpiffeId(requested);
              } catch (err) {
                return S.invalidRequestedSpiffeId((err as Error).message);
              }
            }
            return undefined;
          }) ?? (this.entries.some((e) => requested === '' || e.spiffeId === requested) ? S.JWT_NOT_IMPLEMENTED_BY_FAKE : this.denied());
        callback(S.toServiceError(status));
      },
      ValidateJWTSVID: (call: grpc.ServerUnaryCall<ValidateJwtSvidRequestMessage, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const status =
          this.admit(call, 'ValidateJWTSVID', () => {
            if (call.request.audience === '') return S.AUDIENCE_MUST_BE_SPECIFIED;
            if (call.request.svid === '') return S.SVID_MUST_BE_SPECIFIED;
            return undefined;
          }) ?? S.JWT_NOT_IMPLEMENTED_BY_FAKE;
        callback(S.toServiceError(status));
      },
      FetchJWTBundles: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        const status =
          this.admit(call, 'FetchJWTBundles') ??
          (this.entries.length === 0 && !this.opts.allowUnauthenticatedVerifiers ? this.denied() : S.JWT_NOT_IMPLEMENTED_BY_FAKE);
        endWith(call, status);
      },
      FetchWITSVID: (call: grpc.ServerWritableStream<unknown, unknown>) => endWith(call, this.admit(call, 'FetchWITSVID') ?? S.WIT_SVID_NOT_IMPLEMENTED),
      FetchWITBundles: (call: grpc.ServerWritableStream<unknown, unknown>) =>
        endWith(call, this.admit(call, 'FetchWITBundles') ?? S.WIT_BUNDLES_NOT_IMPLEMENTED),
    };
  }

  /**
   * What happens before a handler sees a call: SPIRE's middleware header check
   * (§The security header), then the handler's own request checks, then workload attestation.
   * Returns the status to end with, or undefined to proceed.
   */
  private admit(call: { metadata: grpc.Metadata }, method: string, checkRequest?: () => S.SpireStatus | undefined): S.SpireStatus | undefined {
    this.stats_.callsTotal++;
    const values = call.metadata.get('workload.spiffe.io');
    const headerOk = values.length === 1 && values[0] === 'true';
    if (headerOk) this.stats_.headersSeen++;
    else this.stats_.headersRejected++;
    this.emit('call', { method, headerOk });
    this.touchStats();
    if (!headerOk) return S.SECURITY_HEADER_MISSING;
    const requestProblem = checkRequest?.();
    if (requestProblem) return requestProblem;
    if (this.attestationFails) return S.WORKLOAD_ATTESTATION_FAILED;
    return undefined;
  }

  private denied(): S.SpireStatus {
    this.stats_.permissionDenied++;
    this.touchStats();
    return S.NO_IDENTITY_ISSUED;
  }

  private fetchX509Svid(call: X509Call): void {
    const refused = this.admit(call, 'FetchX509SVID');
    if (refused) return endWith(call, refused);
    if (this.entries.length === 0) return endWith(call, this.denied());
    this.stats_.x509StreamsTotal++;
    this.x509Streams.add(call);
    const forget = () => {
      if (this.x509Streams.delete(call)) this.touchStats();
    };
    call.once('cancelled', forget);
    call.once('close', forget);
    // The first message goes out at once, from the state as it is (§Streams).
    this.sendX509([call]);
  }

  private fetchX509Bundles(call: BundlesCall): void {
    const refused = this.admit(call, 'FetchX509Bundles');
    if (refused) return endWith(call, refused);
    if (this.entries.length === 0 && !this.opts.allowUnauthenticatedVerifiers) return endWith(call, this.denied());
    const subscriber: BundlesSubscriber = { call, previous: undefined };
    this.bundleStreams.add(subscriber);
    const forget = () => {
      if (this.bundleStreams.delete(subscriber)) this.touchStats();
    };
    call.once('cancelled', forget);
    call.once('close', forget);
    this.sendBundles([subscriber]);
  }

  // ---------------------------------------------------------------- internals: pushes

  private update(): WorkloadUpdate {
    const identities: WorkloadIdentity[] = this.entries.map((e) => ({ entryId: e.entryId, spiffeId: e.spiffeId, hint: e.hint, svid: e.svid }));
    // SPIRE sends federated bundles only for a workload that has an identity.
    return { identities, trustDomain: this.trustDomain, federatedWith: identities.length > 0 ? [...this.federated.keys()] : [] };
  }

  /** Every cache change: a full-state message to every open stream, or the end of it (§Streams). */
  private broadcast(): void {
    const x509 = [...this.x509Streams];
    if (this.entries.length === 0) {
      this.x509Streams.clear();
      for (const call of x509) endWith(call, this.denied());
    } else if (x509.length > 0) {
      this.sendX509(x509);
    }
    const bundles = [...this.bundleStreams];
    if (this.entries.length === 0 && !this.opts.allowUnauthenticatedVerifiers) {
      this.bundleStreams.clear();
      for (const subscriber of bundles) endWith(subscriber.call, this.denied());
    } else {
      this.sendBundles(bundles);
    }
    this.touchStats();
  }

  private sendX509(calls: X509Call[]): void {
    let message = composeX509SvidResponse(this.update());
    const garbage = this.garbage;
    if (garbage) {
      this.garbage = undefined;
      const [first, ...rest] = message.svids;
      message = { ...message, svids: [{ ...first!, [garbage.field]: garbage.bytes }, ...rest] };
      this.stats_.garbageMessagesSent += calls.length;
      this.log(`pushing garbage in ${garbage.field} to ${calls.length} stream(s)`);
    }
    for (const call of calls) call.write(message);
    this.stats_.x509MessagesSent += calls.length;
    this.touchStats();
    const leaf = message.svids[0]!;
    this.log(`pushed X509-SVID ${leaf.spiffe_id} (${message.svids.length} svid(s), bundle ${fingerprint(leaf.bundle)}) to ${calls.length} stream(s)`);
    this.emit('x509-push', message, { streams: calls.length, garbage: garbage !== undefined });
  }

  private sendBundles(subscribers: BundlesSubscriber[]): void {
    if (subscribers.length === 0) return;
    const message = composeX509BundlesResponse(this.update());
    let sent = 0;
    for (const subscriber of subscribers) {
      // SPIRE skips a bundles message equal to the last one on that stream.
      if (sameBundles(subscriber.previous, message)) continue;
      subscriber.previous = message;
      subscriber.call.write(message);
      sent++;
    }
    if (sent === 0) return;
    this.stats_.bundleMessagesSent += sent;
    this.emit('bundles-push', message);
  }

  private onTrustDomainChange(change: TrustDomainChange, own: boolean): Promise<void> {
    return this.serial.run(async () => {
      if (this.closed) return;
      if (change.kind === 'bundle') {
        this.broadcast();
      } else if (own && change.reissue && this.entries.length > 0) {
        // Activation changes nothing a workload sees until its SVIDs are re-signed.
        await this.reissue(this.entries, {});
        this.broadcast();
      }
    });
  }

  private async reissue(targets: readonly Entry[], options: RotateOptions): Promise<void> {
    // Mint everything first, then swap, so a push never mixes old and new state half-way.
    const minted = await Promise.all(
      targets.map((entry) =>
        this.trustDomain.signer.issueSvid(entry.spiffeId, {
          ttlMs: options.ttlMs ?? entry.ttlMs,
          dnsNames: entry.dnsNames,
          defect: options.defect,
        }),
      ),
    );
    targets.forEach((entry, i) => {
      entry.svid = minted[i]!;
      if (options.ttlMs !== undefined) entry.ttlMs = options.ttlMs;
      this.scheduleAutoRotation(entry);
      this.log(`issued ${entry.spiffeId} serial ${entry.svid.serial}${entry.svid.defect ? ` with defect ${entry.svid.defect}` : ''}`);
    });
  }

  /** SPIRE's agent renews an SVID once half its lifetime has passed. */
  private scheduleAutoRotation(entry: Entry): void {
    clearTimeout(entry.rotateTimer);
    entry.rotateTimer = undefined;
    if (!this.opts.autoRotate || this.closed) return;
    const halfLife = (entry.svid.notAfter.getTime() - Date.now()) / 2;
    entry.rotateTimer = setTimeout(
      () => {
        if (!this.entries.includes(entry)) return;
        this.rotate(entry.spiffeId).catch((err: unknown) => this.log(`auto-rotation of ${entry.spiffeId} failed: ${String(err)}`));
      },
      Math.max(halfLife, 100),
    );
    entry.rotateTimer.unref();
  }

  private touchStats(): void {
    this.stats_.x509StreamsOpen = this.x509Streams.size;
    this.stats_.bundleStreamsOpen = this.bundleStreams.size;
    this.emit('stats', this.stats);
  }

  private log(line: string): void {
    this.opts.log?.(line);
    this.emit('log', line);
  }
}

/** Start an agent on `socketPath`. Nothing is registered yet: call `register()` for an identity. */
export async function startFakeSpire(options: FakeSpireOptions): Promise<FakeSpire> {
  const owns = typeof options.trustDomain === 'string';
  const trustDomain =
    typeof options.trustDomain === 'string' ? await FakeTrustDomain.create(options.trustDomain, options.trustDomainOptions) : options.trustDomain;
  const spire = new FakeSpire({ ...options, trustDomain }, owns);
  await spire.start();
  return spire;
}

function normaliseSocketPath(input: string): string {
  // `unix:///abs` (SPIFFE_ENDPOINT_SOCKET form, §SPIFFE_ENDPOINT_SOCKET) or a bare absolute path.
  const path = input.startsWith('unix://') ? input.slice('unix://'.length) : input;
  if (!isAbsolute(path)) throw new Error(`fake-spire: socket path must be absolute (unix:///abs/path or /abs/path), got ${input}`);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`fake-spire: socket path is ${Buffer.byteLength(path)} bytes, over the ${MAX_SOCKET_PATH_BYTES}-byte sun_path limit: ${path}`);
  }
  return path;
}

/**
 * End a server stream with a status: grpc-js turns an emitted error into the trailer
 * (§grpc-js over unix sockets).
 */
function endWith(call: grpc.ServerWritableStream<unknown, unknown>, status: S.SpireStatus): void {
  call.emit('error', S.toServiceError(status));
}

function defaultGarbage(): Buffer {
  // 0x04 starts an OCTET STRING, not the SEQUENCE (0x30) every certificate starts with.
  return Buffer.concat([Buffer.from([0x04, 0x3e]), Buffer.from('fake-spire garbage: this is not a DER certificate chain!!!!!!!')]);
}

function snapshot(entry: Entry): SvidSnapshot {
  const { svid } = entry;
  return {
    spiffeId: entry.spiffeId,
    hint: entry.hint,
    serial: svid.serial,
    notBefore: svid.notBefore,
    notAfter: svid.notAfter,
    chainPem: svidChainPem(svid),
    leafPem: pemOf(svid.chainDer[0]!),
    keyPem: svidKeyPem(svid),
    defect: svid.defect,
  };
}
