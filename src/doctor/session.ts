/**
 * What a check may ask of one doctor run: the configuration, the clock, and each probe's result.
 * The checks and probes see only this interface; `context.ts` implements it by running the probes
 * at most once each. The interface sits below both, so a probe that needs another probe's result
 * (the TLS probe needs the trust plan, the identity probe the SVID) asks the session for it without
 * importing the file that runs it: the probes and the context then form no cycle.
 *
 * The probe result types live here, not beside their probes, because the session returns them.
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import type { AhError } from '../errors/ah-error.js';
import type { IdentityMaterial, ProviderKind } from '../providers/identity-provider.js';
import type { SvidMaterial } from '../providers/spiffe.js';
import type { Welcome } from '../transport/messages.js';
import type { CheckOutcome, DoctorConfig } from './types.js';

/** Access point mode: could the daemon bind its fleet port? */
export type BindProbe = { readonly free: true } | { readonly free: false; readonly code: string; readonly detail: string };

export type ResolveProbe = { readonly ok: true; readonly literal: boolean; readonly addresses: string[] } | { readonly ok: false; readonly error: AhError };

export type TcpProbe =
  | { readonly ok: true; readonly ms: number; readonly peer: string }
  /** notRunning: access point mode, nothing holds its port (not dialed). */
  | { readonly ok: false; readonly error: AhError; readonly notRunning?: boolean };

export interface TlsProbe {
  /** The handshake completed (the chain is known). */
  readonly ok: boolean;
  readonly error?: AhError;
  readonly protocol?: string | null;
  readonly alpn?: string | false | null;
  readonly chain: X509Certificate[];
  readonly verdict?: CheckOutcome;
}

export interface FileRead {
  readonly role: 'cert' | 'key' | 'ca';
  readonly path: string;
  readonly mode?: number;
  readonly text?: string;
  readonly error?: AhError;
}

export interface IdentityProbe {
  readonly kind: ProviderKind;
  /** Where the material comes from, for findings. */
  readonly origin: string;
  /** Files read: the files identity's three, a kept dev identity, an extra `--ca`. */
  readonly files: FileRead[];
  readonly certPem?: string;
  readonly keyPem?: string;
  readonly chain?: X509Certificate[];
  readonly key?: KeyObject;
  /** The identity's own CA bundle (files `--ca`, the SVID bundle, Vault's CA chain). */
  readonly bundle?: X509Certificate[];
  readonly bundlePem?: string;
  readonly bundleOrigin?: string;
  /** `--ca` given with an identity that has no bundle of its own (trusts the access point). */
  readonly extraCaPem?: string;
  readonly parseErrors: AhError[];
  /** No material at all, and why (the provider failed; see its checks). */
  readonly unavailable?: { readonly reason: string; readonly error?: AhError };
  /** Files identity without `--cert`/`--key`. */
  readonly anonymous: boolean;
  /** Dev identity: where it is kept, and why it could not be. */
  readonly devDir?: string;
  readonly devDirProblem?: AhError;
}

export type SpiffeAnswer =
  | { readonly kind: 'material'; readonly material: SvidMaterial }
  | { readonly kind: 'error'; readonly error: AhError }
  | { readonly kind: 'none'; readonly reason: string };

export interface SpiffeProbe {
  readonly path: string;
  readonly socket: { readonly ok: true; readonly finding: string } | { readonly ok: false; readonly error: AhError; readonly finding: string };
  readonly answer: SpiffeAnswer;
  /** For the identity checks. */
  readonly material: SvidMaterial | null;
  readonly materialError?: AhError;
  readonly origin: string;
}

/** One step of the Vault probe: done, failed, or not tried (and why). */
export type VaultStep<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: AhError }
  | { readonly ok: null; readonly reason: string };

export interface VaultMaterial {
  readonly certPem: string;
  readonly keyPem: string;
  readonly bundlePem: string;
  readonly leaf: X509Certificate;
}

export interface VaultProbe {
  readonly addr: string;
  readonly path: string;
  readonly reach: VaultStep<{ sealed: boolean; version: string | null }>;
  readonly token: VaultStep<{ how: string; ttlSeconds: number; renewable: boolean; policies: string[] }>;
  readonly issue: VaultStep<VaultMaterial>;
  readonly material: VaultMaterial | null;
  readonly materialError?: AhError;
  readonly origin: string;
}

/** One run of the exec identity's command. */
export interface ExecProbe {
  /** The program as typed. */
  readonly program: string;
  readonly material: IdentityMaterial | null;
  readonly materialError?: AhError;
  /** Its first stderr lines, key material left out. */
  readonly stderr: string[];
  readonly ms: number;
  readonly origin: string;
}

export type EnrollProbe =
  | { readonly kind: 'welcomed'; readonly welcome: Welcome; readonly startedAt: number; readonly receivedAt: number }
  | { readonly kind: 'failed'; readonly error: AhError }
  | { readonly kind: 'skipped'; readonly reason: string };

/** How the executor would decide that the server it reached is its access point. */
export type TrustPlan =
  | { readonly kind: 'ca'; readonly bundlePem: string; readonly origin: string }
  | { readonly kind: 'first-use'; readonly file: string }
  | { readonly kind: 'none'; readonly reason: string };

export interface DoctorSession {
  readonly config: DoctorConfig;
  readonly now: () => number;
  resolve(): Promise<ResolveProbe>;
  tcp(): Promise<TcpProbe>;
  /** Access point mode: can `--fleet-listen` be bound (nothing holds it)? */
  listenProbe(): Promise<BindProbe>;
  /** Access point mode: the access point of this state dir answers on its status socket, or the port answers as one (ALPN). */
  accessPointAnswers(): Promise<boolean>;
  tls(): Promise<TlsProbe>;
  identity(): Promise<IdentityProbe>;
  /** Rejects unless the identity is spiffe: checks ask only then. */
  spiffe(): Promise<SpiffeProbe>;
  /** Rejects unless the identity is vault: checks ask only then. */
  vault(): Promise<VaultProbe>;
  /** The exec identity's command, run once. */
  exec(): Promise<ExecProbe>;
  enrollment(): Promise<EnrollProbe>;
  /** The executor's rule (engine/executor.ts): `--ca` for identities without a bundle, else the identity's bundle, else first use. */
  trust(): Promise<TrustPlan>;
  /** Access point mode, listening on every interface: say which address was checked. */
  listenNote(): string;
}
