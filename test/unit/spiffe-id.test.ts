/**
 * SPIFFE IDs by the specification: the parser accepts exactly the grammar (checked against an
 * independent oracle over generated strings), names the rule it refuses by, and prefixes match at
 * segment boundaries only.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parseSpiffeId,
  parseSpiffeIdPrefix,
  spiffeIdProblem,
  spiffeIdUnder,
  SpiffeIdError,
  uriUnderPrefix,
  workloadIdProblem,
} from '../../src/x509/spiffe-id.js';

/** The grammar, written independently of the parser: scheme, trust domain, then `/segment`s. */
function specAccepts(text: string): boolean {
  if (Buffer.byteLength(text, 'utf8') > 2048) return false;
  const m = /^spiffe:\/\/([a-z0-9._-]+)((?:\/[A-Za-z0-9._-]+)*)$/.exec(text);
  if (!m) return false;
  return m[2]!
    .split('/')
    .slice(1)
    .every((s) => s !== '.' && s !== '..');
}

const tdChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-_');
const segChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_');
const validId = fc
  .tuple(fc.string({ unit: tdChar, minLength: 1, maxLength: 20 }), fc.array(fc.string({ unit: segChar, minLength: 1, maxLength: 10 }), { maxLength: 5 }))
  .filter(([, segs]) => segs.every((s) => s !== '.' && s !== '..'))
  .map(([td, segs]) => `spiffe://${td}${segs.map((s) => `/${s}`).join('')}`);
/** Characters that matter to the grammar, and some that never belong. */
const noise = fc.constantFrom('/', '.', '..', ':', '@', '?', '#', '%', 'A', 'Z', 'a', '0', '-', '_', ' ', '\\', 'é', '//', 'SPIFFE', ':443');

describe('SPIFFE ID parser', () => {
  it('accepts every ID the grammar generates, unchanged', () => {
    fc.assert(
      fc.property(validId, (id) => {
        expect(spiffeIdProblem(id)).toBeNull();
        expect(parseSpiffeId(id).text).toBe(id);
      }),
      { numRuns: 500 },
    );
  });

  it('accepts exactly what the grammar accepts, for valid IDs with noise inserted anywhere', () => {
    fc.assert(
      fc.property(validId, fc.nat(), noise, (id, at, piece) => {
        const i = at % (id.length + 1);
        const text = id.slice(0, i) + piece + id.slice(i);
        expect(spiffeIdProblem(text) === null, text).toBe(specAccepts(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts exactly what the grammar accepts, for arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        for (const text of [s, `spiffe://${s}`, `spiffe://example.org/${s}`]) expect(spiffeIdProblem(text) === null, text).toBe(specAccepts(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('names the rule each non-canonical alias breaks', () => {
    const rules: Array<[string, RegExp]> = [
      ['SPIFFE://EXAMPLE.ORG/ah/agent/good1', /scheme must be "spiffe" in lower case/],
      ['spiffe://EXAMPLE.ORG/ah/agent/good1', /trust domain must be in lower case/],
      ['spiffe://example.org/ah/agent//good1', /empty segment/],
      ['spiffe://example.org/ah/agent/good1/', /must not end with "\/"/],
      ['spiffe://example.org/ah/agent/good1?x=1', /query is not allowed/],
      ['spiffe://example.org/ah/agent/good1#f', /fragment is not allowed/],
      ['spiffe://user@example.org/ah/agent/good1', /user info is not allowed/],
      ['spiffe://example.org:8443/ah/agent/good1', /port is not allowed/],
      ['spiffe://example.org/ah/agent/../admin', /"\." or "\.\." segments/],
      ['spiffe://example.org/ah/agent/%2e%2e', /percent-encoding is not allowed/],
      ['spiffe:///ah/agent/x', /trust domain is missing/],
      ['https://example.org/ah/agent/x', /scheme is missing/],
      ['', /cannot be empty/],
      [`spiffe://example.org/${'a'.repeat(2030)}`, /longer than 2048 bytes/],
    ];
    for (const [text, rule] of rules) {
      expect(spiffeIdProblem(text), text).toMatch(rule);
      expect(() => parseSpiffeId(text)).toThrow(SpiffeIdError);
    }
    expect(workloadIdProblem('spiffe://example.org')).toMatch(/must have a path/);
  });

  it('matches prefixes at segment boundaries, within one trust domain', () => {
    const under = (id: string, prefix: string) => spiffeIdUnder(parseSpiffeId(id), parseSpiffeIdPrefix(prefix));
    expect(under('spiffe://example.org/ah/agent/x', 'spiffe://example.org/ah/agent/')).toBe(true);
    expect(under('spiffe://example.org/ah/agent', 'spiffe://example.org/ah/agent/')).toBe(false);
    expect(under('spiffe://example.org/ah/agent', 'spiffe://example.org/ah/agent')).toBe(true);
    expect(under('spiffe://example.org/ah/agentx', 'spiffe://example.org/ah/agent')).toBe(false);
    expect(under('spiffe://example.org.evil/ah/agent/x', 'spiffe://example.org/ah/agent/')).toBe(false);
    expect(under('spiffe://example.org/x', 'spiffe://example.org/')).toBe(true);
    expect(uriUnderPrefix('spiffe://example.org/ah/agent//x', 'spiffe://example.org/ah/agent/')).toBe(false);
    expect(() => parseSpiffeIdPrefix('not a uri')).toThrow(/scheme is missing/);
    expect(() => parseSpiffeIdPrefix('')).toThrow(/cannot be empty/);
  });
});
