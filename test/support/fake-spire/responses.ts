/**
 * Building the Workload API responses from the agent's current state, field by field as SPIRE's
 * workload handler does (docs/workload-api.md §What SPIRE puts in the fields):
 * - `x509_svid`: the DER of leaf and intermediates concatenated, no SEQUENCE around them;
 * - `x509_svid_key`: PKCS#8 DER;
 * - `bundle` and each `federated_bundles` / `bundles` value: the DER of the CA certificates concatenated;
 * - map keys: the trust domain ID, `spiffe://example.org`;
 * - `hint`: the entry's hint; of several identities sharing a hint only the oldest entry is kept.
 * Every message is the whole current state (§Streams): the caller builds a fresh one per push and
 * never a diff, so a federated bundle or an SVID that is gone is simply absent (redaction).
 */
import type { IssuedSvid } from './ca.js';
import type { X509BundlesResponseMessage, X509SvidMessage, X509SvidResponseMessage } from './proto.js';
import type { FakeTrustDomain } from './trust-domain.js';

export interface WorkloadIdentity {
  /** Creation order; SPIRE breaks hint ties by the older entry. */
  readonly entryId: number;
  readonly spiffeId: string;
  readonly hint: string;
  readonly svid: IssuedSvid;
}

/** What the agent's cache holds for the caller (SPIRE's `cache.WorkloadUpdate`). */
export interface WorkloadUpdate {
  readonly identities: readonly WorkloadIdentity[];
  readonly trustDomain: FakeTrustDomain;
  /** Union of the trust domains the caller's entries federate with. */
  readonly federatedWith: readonly FakeTrustDomain[];
}

/** SPIRE's `filterIdentities`: one identity per non-empty hint, the oldest entry winning. */
export function filterDuplicateHints(identities: readonly WorkloadIdentity[]): WorkloadIdentity[] {
  const winners = new Map<string, WorkloadIdentity>();
  for (const identity of identities) {
    if (identity.hint === '') continue;
    const held = winners.get(identity.hint);
    if (!held || identity.entryId < held.entryId) winners.set(identity.hint, identity);
  }
  return identities.filter((identity) => identity.hint === '' || winners.get(identity.hint) === identity);
}

/**
 * Only meaningful with at least one identity: without one the stream ends PERMISSION_DENIED
 * (§Status codes).
 */
export function composeX509SvidResponse(update: WorkloadUpdate): X509SvidResponseMessage {
  const bundle = update.trustDomain.bundleDer();
  const svids: X509SvidMessage[] = filterDuplicateHints(update.identities).map((identity) => ({
    spiffe_id: identity.spiffeId,
    x509_svid: Buffer.concat(identity.svid.chainDer),
    x509_svid_key: identity.svid.keyPkcs8,
    bundle,
    hint: identity.hint,
  }));
  const federated_bundles: Record<string, Buffer> = {};
  for (const td of update.federatedWith) federated_bundles[td.id] = td.bundleDer();
  return { svids, crl: [], federated_bundles };
}

/** SPIRE's `composeX509BundlesResponse`: own bundle always, federated ones only with an identity. */
export function composeX509BundlesResponse(update: WorkloadUpdate): X509BundlesResponseMessage {
  const bundles: Record<string, Buffer> = { [update.trustDomain.id]: update.trustDomain.bundleDer() };
  if (update.identities.length > 0) {
    for (const td of update.federatedWith) bundles[td.id] = td.bundleDer();
  }
  return { crl: [], bundles };
}

/** SPIRE skips a bundles message equal to the previous one (`proto.Equal`); this is that test. */
export function sameBundles(a: X509BundlesResponseMessage | undefined, b: X509BundlesResponseMessage): boolean {
  if (!a) return false;
  const keysA = Object.keys(a.bundles).sort();
  const keysB = Object.keys(b.bundles).sort();
  return keysA.length === keysB.length && keysA.every((key, i) => key === keysB[i] && a.bundles[key]!.equals(b.bundles[key]!)) && a.crl.length === b.crl.length;
}
