/**
 * SPIFFE IDs, parsed by the SPIFFE ID specification (docs/spiffe-id.md): `spiffe://` in lower
 * case, a trust domain of `[a-z0-9._-]`, path segments of `[a-zA-Z0-9._-]`, no empty, `.` or `..`
 * segment, no trailing slash, no query, fragment, user info or port, at most 2048 bytes.
 *
 * Every identity we compare goes through here (executor SANs, SVIDs, `--expected-server-id`,
 * `--executor-san-uri-prefix`): a string that is not canonical is refused rather than normalised,
 * so `SPIFFE://EXAMPLE.ORG/ah/agent/a`, `…/agent//a`, `…/agent/a/` and `…/agent/a?x=1` can never
 * alias `spiffe://example.org/ah/agent/a`.
 */

export const SPIFFE_ID_MAX_BYTES = 2048;

export interface SpiffeId {
  readonly trustDomain: string;
  /** `''` for the trust domain itself, else `/seg/seg…`. */
  readonly path: string;
  readonly segments: readonly string[];
  /** The canonical text, which is also the input (a non-canonical input is refused). */
  readonly text: string;
}

/** Thrown with the rule the input breaks, in words an operator can act on. */
export class SpiffeIdError extends RangeError {
  constructor(
    readonly input: string,
    readonly rule: string,
  ) {
    super(`invalid SPIFFE ID ${JSON.stringify(input.length > 120 ? `${input.slice(0, 120)}…` : input)}: ${rule}`);
    this.name = 'SpiffeIdError';
  }
}

const TRUST_DOMAIN_CHAR = /^[a-z0-9._-]$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;

/** The rule `text` breaks, or null when it is a canonical SPIFFE ID. */
export function spiffeIdProblem(text: string): string | null {
  if (text.length === 0) return 'cannot be empty';
  if (Buffer.byteLength(text, 'utf8') > SPIFFE_ID_MAX_BYTES) return `longer than ${SPIFFE_ID_MAX_BYTES} bytes`;
  if (!text.startsWith('spiffe://')) {
    return /^spiffe:\/\//i.test(text) ? 'the scheme must be "spiffe" in lower case' : 'the scheme is missing or is not "spiffe://"';
  }
  const rest = text.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (authority.length === 0) return 'the trust domain is missing';
  if (authority.includes('@')) return 'user info is not allowed';
  if (authority.includes(':')) return 'a port is not allowed';
  for (const ch of authority) {
    if (ch === '?' || ch === '#') return ch === '?' ? 'a query is not allowed' : 'a fragment is not allowed';
    if (!TRUST_DOMAIN_CHAR.test(ch)) {
      return /[A-Z]/.test(ch)
        ? 'the trust domain must be in lower case'
        : `the trust domain may hold only lower-case letters, digits, ".", "-" and "_" (found ${JSON.stringify(ch)})`;
    }
  }
  if (path === '') return null;
  if (path.includes('?')) return 'a query is not allowed';
  if (path.includes('#')) return 'a fragment is not allowed';
  if (path === '/' || path.endsWith('/')) return 'the path must not end with "/"';
  for (const segment of path.slice(1).split('/')) {
    if (segment === '') return 'the path must not hold an empty segment ("//")';
    if (segment === '.' || segment === '..') return 'the path must not hold "." or ".." segments';
    if (!PATH_SEGMENT.test(segment)) {
      const bad = [...segment].find((c) => !/[A-Za-z0-9._-]/.test(c))!;
      return `path segments may hold only letters, digits, ".", "-" and "_" (found ${JSON.stringify(bad)}${bad === '%' ? ': percent-encoding is not allowed' : ''})`;
    }
  }
  return null;
}

export function parseSpiffeId(text: string): SpiffeId {
  const problem = spiffeIdProblem(text);
  if (problem) throw new SpiffeIdError(text, problem);
  const rest = text.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  return { trustDomain, path, segments: path ? path.slice(1).split('/') : [], text };
}

/** A workload's ID: a SPIFFE ID with a non-empty path (the trust domain itself names no workload). */
export function workloadIdProblem(text: string): string | null {
  const problem = spiffeIdProblem(text);
  if (problem) return problem;
  return text.slice('spiffe://'.length).includes('/') ? null : 'a workload SPIFFE ID must have a path (the trust domain alone names no workload)';
}

/**
 * `--executor-san-uri-prefix`: a SPIFFE ID, optionally with one trailing slash. With the slash it
 * admits IDs strictly below it (`spiffe://example.org/ah/agent/` admits `…/agent/x`, not `…/agent`);
 * without it, the ID itself and those below. Either way only at a segment boundary.
 */
export interface SpiffeIdPrefix {
  readonly id: SpiffeId;
  readonly strictlyBelow: boolean;
  readonly text: string;
}

export function parseSpiffeIdPrefix(text: string): SpiffeIdPrefix {
  const strictlyBelow = text.endsWith('/') && !text.endsWith('//');
  const base = strictlyBelow ? text.slice(0, -1) : text;
  // `spiffe://td/` is the whole trust domain.
  const problem = spiffeIdProblem(base);
  if (problem) throw new SpiffeIdError(text, problem);
  return { id: parseSpiffeId(base), strictlyBelow, text };
}

/** Is the (already parsed, canonical) `id` under `prefix`, at a segment boundary? */
export function spiffeIdUnder(id: SpiffeId, prefix: SpiffeIdPrefix): boolean {
  if (id.trustDomain !== prefix.id.trustDomain) return false;
  const p = prefix.id.segments;
  if (id.segments.length < p.length + (prefix.strictlyBelow ? 1 : 0)) return false;
  return p.every((segment, i) => id.segments[i] === segment);
}

/** `uri` under the prefix text, both parsed; anything that is not a canonical SPIFFE ID is not. */
export function uriUnderPrefix(uri: string, prefix: string): boolean {
  try {
    return spiffeIdUnder(parseSpiffeId(uri), parseSpiffeIdPrefix(prefix));
  } catch (err) {
    if (err instanceof SpiffeIdError) return false;
    throw err;
  }
}
