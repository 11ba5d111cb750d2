/**
 * A trust domain as a SPIRE server holds it: the CA that signs SVIDs now, and the bundle — every CA
 * certificate a peer may still present a chain to. Several fake agents (one per socket, i.e. one
 * per simulated host) can share one trust domain, exactly as the agents of one SPIRE server do, so
 * an executor and an access point started on two sockets trust each other.
 *
 * CA rotation follows SPIRE's prepare → activate → prune order so that no peer is ever cut off:
 * 1. the next CA is prepared and published in the bundle next to the current one (old + new);
 * 2. it is activated: agents re-issue their SVIDs under it while the bundle still holds both;
 * 3. after the overlap the old CA is dropped from the bundle (only new).
 * Each step is a cache change, so every agent pushes a full-state message after it
 * (docs/workload-api.md §Streams).
 */
import { CertificateAuthority, pemOf } from './ca.js';
import { Serial } from './serial.js';
import { assertTrustDomainName, trustDomainId } from './spiffe-id.js';

export interface TrustDomainOptions {
  /** Lifetime of each CA certificate. SPIRE's `ca_ttl` default is 24 h. */
  readonly caTtlMs?: number;
  /**
   * Sign SVIDs with an intermediate under the bundle's root, so `x509_svid` carries leaf +
   * intermediate (SPIRE with an UpstreamAuthority). Default false: leaf only, root-signed.
   */
  readonly intermediate?: boolean;
}

export type TrustDomainChange =
  /** The bundle's set of CA certificates changed (a CA was added or dropped). */
  | { readonly kind: 'bundle' }
  /** A new signing CA is active; agents re-issue their SVIDs under it when `reissue` is set. */
  | { readonly kind: 'activated'; readonly reissue: boolean };

export type TrustDomainListener = (change: TrustDomainChange) => Promise<void> | void;

export interface RotateCaOptions {
  /**
   * How long old and new CA stay together in the bundle after activation. Undefined: until
   * `dropOldCa()` is called, which lets a test decide the moment instead of waiting on a timer.
   */
  readonly overlapMs?: number;
  /** Re-issue every agent's SVIDs under the new CA at activation (default true). */
  readonly reissue?: boolean;
}

export interface CaRotation {
  readonly previousCaPem: string;
  readonly newCaPem: string;
  /** Settles once the old CA has left the bundle and the agents have pushed that change. */
  readonly oldCaDropped: Promise<void>;
}

export class FakeTrustDomain {
  /** `spiffe://<name>` */
  readonly id: string;
  private roots: CertificateAuthority[];
  private signingCa: CertificateAuthority;
  private readonly listeners = new Set<TrustDomainListener>();
  private dropTimer: NodeJS.Timeout | undefined;
  /** Rotations whose old CA is still in the bundle, waiting for `dropOldCa()`. */
  private readonly serial = new Serial();
  private readonly pendingDrops: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];

  private constructor(
    readonly name: string,
    private readonly opts: Required<TrustDomainOptions>,
    root: CertificateAuthority,
    signer: CertificateAuthority,
  ) {
    this.id = trustDomainId(name);
    this.roots = [root];
    this.signingCa = signer;
  }

  static async create(name: string, options: TrustDomainOptions = {}): Promise<FakeTrustDomain> {
    assertTrustDomainName(name);
    const opts: Required<TrustDomainOptions> = { caTtlMs: options.caTtlMs ?? 24 * 3_600_000, intermediate: options.intermediate ?? false };
    const [root, signer] = await FakeTrustDomain.newAuthority(name, opts);
    return new FakeTrustDomain(name, opts, root, signer);
  }

  /** The CA that signs SVIDs now (an intermediate in `intermediate` mode). */
  get signer(): CertificateAuthority {
    return this.signingCa;
  }

  /** The bundle's CA certificates, oldest first. */
  get bundleCas(): readonly CertificateAuthority[] {
    return this.roots;
  }

  /**
   * `bundle` / `federated_bundles` value: the raw DER of the CA certificates concatenated
   * (§What SPIRE puts in the fields).
   */
  bundleDer(): Buffer {
    return Buffer.concat(this.roots.map((ca) => ca.der));
  }

  bundlePem(): string {
    return this.roots.map((ca) => pemOf(ca.der)).join('');
  }

  /** PEM of the root the current signer chains to. */
  caPem(): string {
    return this.signingCa.root.pem;
  }

  /** Called with every change; agents push after it. Returns the unsubscribe function. */
  subscribe(listener: TrustDomainListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Prepare (bundle old+new, push), activate (re-issue, push), then drop the old CA after the overlap. */
  rotateCa(opts: RotateCaOptions = {}): Promise<CaRotation> {
    return this.serial.run(() => this.rotateCaNow(opts));
  }

  /** End the overlap now: keep only the newest CA in the bundle, and push. */
  dropOldCa(): Promise<void> {
    return this.serial.run(() => this.dropOldCaNow());
  }

  private async rotateCaNow(opts: RotateCaOptions): Promise<CaRotation> {
    const previousCaPem = this.caPem();
    const [root, signer] = await FakeTrustDomain.newAuthority(this.name, this.opts);
    this.roots = [...this.roots, root];
    await this.notify({ kind: 'bundle' });
    this.signingCa = signer;
    await this.notify({ kind: 'activated', reissue: opts.reissue ?? true });

    const oldCaDropped = new Promise<void>((resolve, reject) => this.pendingDrops.push({ resolve, reject }));
    // A caller that ignores the promise must not see an unhandled rejection.
    oldCaDropped.catch(() => undefined);
    if (opts.overlapMs !== undefined) {
      clearTimeout(this.dropTimer);
      this.dropTimer = setTimeout(() => void this.dropOldCa().catch(() => undefined), opts.overlapMs);
      this.dropTimer.unref();
    }
    return { previousCaPem, newCaPem: root.pem, oldCaDropped };
  }

  private async dropOldCaNow(): Promise<void> {
    clearTimeout(this.dropTimer);
    this.dropTimer = undefined;
    const pending = this.pendingDrops.splice(0);
    try {
      if (this.roots.length > 1) {
        this.roots = [this.signingCa.root];
        await this.notify({ kind: 'bundle' });
      }
    } catch (err) {
      for (const p of pending) p.reject(err);
      throw err;
    }
    for (const p of pending) p.resolve();
  }

  /** Stop the overlap timer (tests' teardown). */
  dispose(): void {
    clearTimeout(this.dropTimer);
    this.dropTimer = undefined;
  }

  private async notify(change: TrustDomainChange): Promise<void> {
    await Promise.all([...this.listeners].map((listener) => listener(change)));
  }

  private static async newAuthority(name: string, opts: Required<TrustDomainOptions>): Promise<[CertificateAuthority, CertificateAuthority]> {
    const root = await CertificateAuthority.createRoot(name, { ttlMs: opts.caTtlMs });
    const signer = opts.intermediate ? await root.createIntermediate({ ttlMs: opts.caTtlMs }) : root;
    return [root, signer];
  }
}

/** A trust domain for a test (or a second one to federate with). */
export function createTrustDomain(name: string, options?: TrustDomainOptions): Promise<FakeTrustDomain> {
  return FakeTrustDomain.create(name, options);
}
