/**
 * The one interface every identity source implements: dev, files, spiffe, vault, exec. A provider
 * delivers material (certificate chain, key, trust bundle) and says when it changes or fails;
 * the engine verifies material before use and the rotation machine decides when to ask for more.
 */
import type { EventEmitter } from 'eventemitter3';
import type { AhError } from '../errors/ah-error.js';
import type { IdentityMaterial } from '../model/identity.js';

export type { IdentityMaterial };

export type ProviderKind = 'dev' | 'files' | 'spiffe' | 'vault' | 'exec';

/**
 * What a provider tells its owner for the log: the owner writes `message` as the line and
 * `fields` (with the line's stable `event` name, docs/log-events.md) beside it.
 */
export type ProviderLogHook = (level: 'info' | 'warn', message: string, fields: { readonly event: string; readonly [field: string]: unknown }) => void;

export interface ProviderEvents {
  /** New material the provider has (pushed, or reloaded). */
  material: [IdentityMaterial];
  /** The provider cannot produce material right now. */
  error: [AhError];
}

export interface IdentityProvider extends Pick<EventEmitter<ProviderEvents>, 'on' | 'off' | 'once'> {
  readonly kind: ProviderKind;
  /** Can be asked for new material at the renewal point (dev, vault, exec); push providers cannot. */
  readonly canIssue: boolean;
  /** Ask for new material after this long even before the renewal point (exec's `--dynamic-cert-ttl`). */
  readonly maxAgeMs?: number;
  /** Begin delivering: the current material (or an error) as an event, then changes. */
  start(): Promise<void>;
  /** New material on demand; only for providers with `canIssue`. */
  issue(): Promise<IdentityMaterial>;
  stop(): Promise<void>;
}
