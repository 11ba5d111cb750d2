/**
 * The SPIFFE identity: X.509-SVIDs streamed by the SPIRE agent over the Workload API. Each push is
 * the full state; the first SVID is ours. A push is verified (chain to the bundle, the X.509-SVID
 * rules, key matches) before it is offered, so a bad one leaves the SVID in use. The stream is held
 * open and re-established with backoff when the agent goes away; INVALID_ARGUMENT is not retried
 * (docs/workload-api.md §Status codes).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { AhError } from '../errors/ah-error.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import { keyMatchesCertificate, summarize } from '../x509/certificate.js';
import { chainBreak, issuedBy } from '../x509/chain.js';
import { derToPem, splitDerSequence } from '../x509/der.js';
import { svidLeafProblem } from '../x509/svid-rules.js';
import type { IdentityMaterial, IdentityProvider, ProviderEvents } from './identity-provider.js';
import { resolveWorkloadEndpoint, type WorkloadEndpoint } from './spiffe/endpoint.js';
import { grpc, watchX509Svids, type X509SvidResponse, type X509Watch } from './spiffe/workload-api.js';
import { clearLongTimeout, setLongTimeout, type LongTimer } from '../util/long-timer.js';

export interface SpiffeProviderOptions {
  /** `--spiffe-socket` (a path or unix:///path); else SPIFFE_ENDPOINT_SOCKET; else /run/spire/agent.sock. */
  readonly socket?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly reconnect?: BackoffPolicy;
  /** Told of each reconnect attempt (for the log). */
  readonly onReconnect?: (info: { attempt: number; inMs: number; reason: string; code: string }) => void;
}

/** Material plus what SPIFFE adds: the federated trust domains' bundles, kept for who needs them. */
export interface SvidMaterial extends IdentityMaterial {
  readonly federatedBundles: Readonly<Record<string, string>>;
  readonly hint: string;
}

export class SpiffeIdentityProvider extends EventEmitter<ProviderEvents> implements IdentityProvider {
  readonly kind = 'spiffe' as const;
  readonly canIssue = false;
  readonly endpoint: WorkloadEndpoint;
  private watch: X509Watch | null = null;
  private retry: LongTimer | null = null;
  private failures = 0;
  private stopped = false;
  /** When the last SVID push arrived (epoch ms). */
  lastPushAt: number | null = null;

  /** A reconnect is scheduled (false after INVALID_ARGUMENT, which is not retried). */
  get reconnecting(): boolean {
    return this.retry !== null;
  }

  constructor(private readonly options: SpiffeProviderOptions = {}) {
    super();
    this.endpoint = resolveWorkloadEndpoint(options.socket, options.env);
  }

  async start(): Promise<void> {
    this.connect();
  }

  async issue(): Promise<IdentityMaterial> {
    throw new AhError('ENROLL_INTERNAL', { detail: 'SVIDs are pushed by the SPIRE agent; they cannot be requested' });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearLongTimeout(this.retry);
    this.watch?.cancel();
    this.removeAllListeners();
  }

  private connect(): void {
    this.retry = null;
    if (this.stopped) return;
    this.watch = watchX509Svids(this.endpoint.target, {
      message: (response) => this.onPush(response),
      failed: (err) => this.onFailure(err),
    });
  }

  private onPush(response: X509SvidResponse): void {
    this.failures = 0;
    this.lastPushAt = Date.now();
    if (response.svids.length === 0) {
      // An empty push redacts our identity (docs/workload-api.md §Streams): stop offering it.
      this.emit('error', new AhError('ENROLL_NO_IDENTITY_ISSUED'));
      return;
    }
    try {
      this.emit('material', this.toMaterial(response));
    } catch (err) {
      this.emit('error', err instanceof AhError ? err : new AhError('ENROLL_INVALID_SVID', { detail: String((err as Error).message ?? err) }));
    }
  }

  private toMaterial(response: X509SvidResponse): SvidMaterial {
    const svid = response.svids[0]!;
    const invalid = (detail: string) => new AhError('ENROLL_INVALID_SVID', { detail });
    let chainDer: Buffer[];
    let bundleDer: Buffer[];
    try {
      chainDer = splitDerSequence(svid.x509_svid);
      bundleDer = splitDerSequence(svid.bundle);
    } catch (err) {
      throw invalid(`x509_svid or bundle is not DER certificates: ${(err as Error).message}`);
    }
    if (chainDer.length === 0) throw invalid('x509_svid is empty');
    if (bundleDer.length === 0) throw invalid('the bundle is empty');
    let chain: X509Certificate[];
    let bundle: X509Certificate[];
    try {
      chain = chainDer.map((d) => new X509Certificate(d));
      bundle = bundleDer.map((d) => new X509Certificate(d));
    } catch (err) {
      throw invalid(`a certificate does not parse: ${(err as Error).message}`);
    }
    const leafProblem = (() => {
      try {
        return svidLeafProblem(chainDer[0]!);
      } catch (err) {
        return `the leaf does not parse: ${(err as Error).message}`;
      }
    })();
    if (leafProblem) throw invalid(leafProblem);
    const leaf = chain[0]!;
    if (svid.spiffe_id && leaf.subjectAltName !== `URI:${svid.spiffe_id}` && !leaf.subjectAltName?.includes(`URI:${svid.spiffe_id}`)) {
      throw invalid(`the certificate is not for ${svid.spiffe_id}`);
    }
    const broken = chainBreak(chain);
    if (broken) throw invalid(broken);
    const top = chain[chain.length - 1]!;
    if (!bundle.some((anchor) => issuedBy(top, anchor))) throw invalid('the SVID does not chain to its trust bundle');
    let keyPem: string;
    try {
      const key = createPrivateKey({ key: svid.x509_svid_key, format: 'der', type: 'pkcs8' });
      if (!keyMatchesCertificate(leaf, key)) throw invalid('leaf certificate does not match private key');
      keyPem = key.export({ type: 'pkcs8', format: 'pem' }) as string;
    } catch (err) {
      if (err instanceof AhError) throw err;
      throw invalid(`x509_svid_key is not a PKCS#8 key: ${(err as Error).message}`);
    }
    const federatedBundles: Record<string, string> = {};
    for (const [td, der] of Object.entries(response.federated_bundles ?? {})) {
      try {
        federatedBundles[td] = splitDerSequence(der)
          .map((d) => derToPem(d))
          .join('');
      } catch {
        // A broken federated bundle does not invalidate our own identity.
      }
    }
    return {
      certPem: chainDer.map((d) => derToPem(d)).join(''),
      keyPem,
      bundlePem: bundleDer.map((d) => derToPem(d)).join(''),
      summary: summarize(leaf, 'spiffe'),
      federatedBundles,
      hint: svid.hint,
    };
  }

  private onFailure(err: { code: grpc.status; details: string }): void {
    this.watch = null;
    if (this.stopped) return;
    const { path } = this.endpoint;
    let error: AhError;
    if (err.code === grpc.status.PERMISSION_DENIED) {
      error = new AhError('ENROLL_NO_IDENTITY_ISSUED');
    } else if (err.code === grpc.status.UNAVAILABLE && /ENOENT|ECONNREFUSED/.test(err.details)) {
      // No socket, or a socket file with nobody behind it (an agent that was killed).
      error = new AhError('ENROLL_WORKLOAD_API_UNAVAILABLE', { path });
    } else {
      error = new AhError('ENROLL_WORKLOAD_API_ERROR', { path, detail: `${grpc.status[err.code] ?? err.code}: ${err.details}` });
    }
    this.emit('error', error);
    if (err.code === grpc.status.INVALID_ARGUMENT || err.code === grpc.status.UNIMPLEMENTED) return; // not retried (§Status codes)
    this.failures++;
    const inMs = backoffDelay(this.options.reconnect ?? { baseMs: 500, capMs: 30_000 }, this.failures, Math.random());
    this.options.onReconnect?.({ attempt: this.failures, inMs, reason: error.message, code: error.code });
    this.retry = setLongTimeout(() => this.connect(), inMs);
  }
}
