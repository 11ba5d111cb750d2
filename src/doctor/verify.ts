/**
 * The pure judgements behind the identity checks, with node:crypto: does a chain verify to a CA
 * bundle (and if not, is the bundle missing part of it or unrelated), are the names what the
 * policy wants, how much life is left against the renewal threshold, is a key file's mode safe.
 */
import type { X509Certificate } from 'node:crypto';
import { uriUnderPrefix, workloadIdProblem } from '../x509/spiffe-id.js';
import { formatDuration } from '../util/duration.js';
import { describe, distinguishedName, fingerprintOf, notAfterOf, notBeforeOf, subjectAltNames } from '../x509/certificate.js';
import { bundleTouchesChain, chainBreak, issuedBy } from '../x509/chain.js';
import { latestRenewalFraction } from '../model/renewal-policy.js';

export type ChainVerdict =
  | { readonly ok: true; readonly path: X509Certificate[]; readonly anchor: X509Certificate }
  /** broken: the file's own order; incomplete: the bundle holds part of the chain; unknown: nothing related. */
  | { readonly ok: false; readonly reason: 'broken' | 'incomplete' | 'unknown' | 'ca-not-valid'; readonly detail: string };

const selfSigned = (c: X509Certificate) => issuedBy(c, c);

/**
 * Verify `chain` (leaf first, then intermediates, as a cert file holds it) to a root in `bundle`,
 * the way OpenSSL does without partial-chain: the path must end at a self-signed certificate of
 * the bundle, and every CA on it must be valid at `now`.
 */
export function verifyChainTo(chain: X509Certificate[], bundle: X509Certificate[], now: number): ChainVerdict {
  const broken = chainBreak(chain);
  if (broken) return { ok: false, reason: 'broken', detail: broken };
  const inBundle = new Set(bundle.map(fingerprintOf));
  const path: X509Certificate[] = [chain[0]!];
  let current = chain[0]!;
  for (let depth = 0; depth < 16; depth++) {
    if (inBundle.has(fingerprintOf(current)) && selfSigned(current)) return finish(path, current, now);
    const anchor = bundle.find((b) => fingerprintOf(b) !== fingerprintOf(current) && issuedBy(current, b));
    if (anchor) {
      path.push(anchor);
      if (selfSigned(anchor)) return finish(path, anchor, now);
      current = anchor;
      continue;
    }
    const next = chain.find((c) => fingerprintOf(c) !== fingerprintOf(current) && issuedBy(current, c));
    if (next && !path.includes(next)) {
      path.push(next);
      current = next;
      continue;
    }
    break;
  }
  const top = path[path.length - 1]!;
  if (bundleTouchesChain(path, bundle)) {
    return {
      ok: false,
      reason: 'incomplete',
      detail: `the CA bundle holds part of the chain but not the root above ${distinguishedName(top.subject)} (issuer ${distinguishedName(top.issuer)})`,
    };
  }
  return { ok: false, reason: 'unknown', detail: `issued by ${distinguishedName(top.issuer)}, which the CA bundle does not hold` };
}

function finish(path: X509Certificate[], anchor: X509Certificate, now: number): ChainVerdict {
  for (const ca of path.slice(1)) {
    if (now < notBeforeOf(ca) || now > notAfterOf(ca)) {
      return {
        ok: false,
        reason: 'ca-not-valid',
        detail: `CA ${distinguishedName(ca.subject)} is valid ${new Date(notBeforeOf(ca)).toISOString()} to ${new Date(notAfterOf(ca)).toISOString()}`,
      };
    }
  }
  return { ok: true, path, anchor };
}

export interface Lifetime {
  readonly notBefore: number;
  readonly notAfter: number;
  readonly lifetimeMs: number;
  /** Negative once expired. */
  readonly leftMs: number;
  readonly state: 'valid' | 'expired' | 'not-yet-valid';
  /** The renewal point without jitter, and the latest it can be with jitter. */
  readonly renewAt: number;
  readonly renewLatest: number;
  readonly overdue: boolean;
}

export function lifetimeOf(cert: X509Certificate, now: number, threshold: number): Lifetime {
  const notBefore = notBeforeOf(cert);
  const notAfter = notAfterOf(cert);
  const lifetimeMs = notAfter - notBefore;
  const renewAt = notBefore + lifetimeMs * threshold;
  const renewLatest = notBefore + lifetimeMs * latestRenewalFraction(threshold);
  const state = now < notBefore ? 'not-yet-valid' : now > notAfter ? 'expired' : 'valid';
  return { notBefore, notAfter, lifetimeMs, leftMs: notAfter - now, state, renewAt, renewLatest, overdue: state === 'valid' && now > renewLatest };
}

export interface SanPolicy {
  readonly role: 'executor' | 'access-point';
  /** `--executor-san-uri-prefix`: the executor's URI SAN must lie under it. */
  readonly prefix?: string;
  /** The exact URI SAN requested (`--vault-uri-san`), or the dev identity's. */
  readonly exactUri?: string;
}

/** Null when the leaf's names satisfy the policy, else why not. */
export function sanProblem(leaf: X509Certificate, policy: SanPolicy): string | null {
  const san = subjectAltNames(leaf);
  if (policy.role === 'access-point') {
    return san.uris.length + san.dns.length + san.ips.length === 0 ? 'the certificate has no SAN (no DNS name, IP or URI executors could check)' : null;
  }
  if (san.uris.length === 0)
    return 'the certificate has no URI SAN; the access point needs exactly one (the executor ID, e.g. spiffe://example.org/ah/agent/executor-1)';
  if (san.uris.length > 1) return `the certificate has ${san.uris.length} URI SANs (${san.uris.join(', ')}); the access point needs exactly one`;
  const uri = san.uris[0]!;
  const idProblem = workloadIdProblem(uri);
  if (idProblem) return `URI SAN ${uri} is not a valid SPIFFE ID: ${idProblem}`;
  if (policy.exactUri && uri !== policy.exactUri) return `URI SAN ${uri} is not the requested ${policy.exactUri}`;
  if (policy.prefix && !uriUnderPrefix(uri, policy.prefix)) return `URI SAN ${uri} is not under --executor-san-uri-prefix ${policy.prefix}`;
  return null;
}

/** ssh's rule for private keys: no access at all for group or others. */
export function keyModeTooOpen(mode: number): boolean {
  return (mode & 0o077) !== 0;
}

export function formatMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/** `in 3h`, `3h ago`. */
export function relativeTo(at: number, now: number): string {
  const span = formatDuration(Math.abs(at - now));
  return at >= now ? `in ${span}` : `${span} ago`;
}

/** The lines that show one certificate of a chain (subject, issuer, SANs, validity, SPKI). */
export function certificateLines(cert: X509Certificate, index: number, now: number): string[] {
  const d = describe(cert);
  const left = notAfterOf(cert) - now;
  const validity =
    now < notBeforeOf(cert)
      ? `not valid until ${d.notBefore} (${relativeTo(notBeforeOf(cert), now)})`
      : left < 0
        ? `expired ${d.notAfter} (${relativeTo(notAfterOf(cert), now)})`
        : `${formatDuration(left)} left`;
  return [
    `#${index} subject ${d.subject}`,
    `   issuer  ${d.issuer}`,
    `   SANs    ${d.sans.join(', ') || '-'}`,
    `   valid   ${d.notBefore} to ${d.notAfter} (${validity})`,
    `   SPKI    ${d.spkiSha256}`,
  ];
}

export function certificateJson(cert: X509Certificate): Record<string, unknown> {
  return { ...describe(cert) };
}
