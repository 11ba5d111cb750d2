/**
 * SPIFFE ID syntax as docs/workload-api.md §X.509-SVID rules states it (SPIFFE-ID.md): scheme
 * `spiffe`, a lowercase trust domain of `[a-z0-9._-]` (≤ 255 bytes), path segments of
 * `[a-zA-Z0-9._-]`, no empty, `.` or `..` segment, no trailing slash, nothing else in the URI, ≤
 * 2048 bytes. The fake refuses to register an ID that breaks these rules, because real SPIRE would
 * refuse the registration entry: a test that wants a malformed SVID asks for one explicitly (see
 * `SvidDefect` in ca.ts).
 */

export interface SpiffeIdParts {
  readonly trustDomain: string;
  /** `''` for a trust domain ID, else `/a/b`. */
  readonly path: string;
}

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[a-zA-Z0-9._-]+$/;

export class SpiffeIdError extends Error {
  override readonly name = 'SpiffeIdError';
}

export function assertTrustDomainName(name: string): void {
  if (name.length === 0) throw new SpiffeIdError('trust domain is missing');
  if (Buffer.byteLength(name) > 255) throw new SpiffeIdError('trust domain is too long');
  if (!TRUST_DOMAIN.test(name)) {
    // go-spiffe's wording (docs/workload-api.md §X.509-SVID rules).
    throw new SpiffeIdError('trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores');
  }
}

export function parseSpiffeId(text: string): SpiffeIdParts {
  if (Buffer.byteLength(text) > 2048) throw new SpiffeIdError('SPIFFE ID is longer than 2048 bytes');
  const prefix = 'spiffe://';
  if (!text.startsWith(prefix)) throw new SpiffeIdError('scheme is missing or invalid');
  const rest = text.slice(prefix.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  assertTrustDomainName(trustDomain);
  if (path === '') return { trustDomain, path };
  if (path.endsWith('/')) throw new SpiffeIdError('path cannot have a trailing slash');
  for (const segment of path.slice(1).split('/')) {
    if (segment === '') throw new SpiffeIdError('path cannot contain empty segments');
    if (segment === '.' || segment === '..') throw new SpiffeIdError('path cannot contain dot segments');
    if (!SEGMENT.test(segment)) {
      throw new SpiffeIdError('path segment characters are limited to letters, numbers, dots, dashes, and underscores');
    }
  }
  return { trustDomain, path };
}

/** `spiffe://example.org`: the key of a bundle in `federated_bundles` and `bundles` (§Messages). */
export function trustDomainId(trustDomain: string): string {
  return `spiffe://${trustDomain}`;
}
