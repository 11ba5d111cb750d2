import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseDirectives } from '../../src/log/directives.js';
import { uriUnderPrefix } from '../../src/x509/spiffe-id.js';
import { parseListenAddress, parseRemoteServer } from '../../src/util/address.js';
import { formatDuration, parseDuration } from '../../src/util/duration.js';
import { subjectAltNames } from '../../src/x509/certificate.js';
import { createSelfSigned } from '../../src/x509/self-signed.js';

describe('durations', () => {
  it('reads what operators write and writes it back the same way', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('2')).toBe(2_000);
    expect(parseDuration('1.5s')).toBe(1_500);
    expect(() => parseDuration('soon')).toThrow("invalid duration 'soon'");
    expect(() => parseDuration('5 s')).toThrow();
    expect([30_000, 1_500, 500, 90_000, 3_600_000, 86_400_000 + 1_000].map(formatDuration)).toEqual(['30s', '1.5s', '500ms', '1m30s', '1h', '1d1s']);
  });
});

describe('addresses', () => {
  it('--remote-server: https only, port 4433 by default', () => {
    expect(parseRemoteServer('https://127.0.0.1:4433')).toEqual({ host: '127.0.0.1', port: 4433, url: 'https://127.0.0.1:4433' });
    expect(parseRemoteServer('https://ap.example.com')).toEqual({ host: 'ap.example.com', port: 4433, url: 'https://ap.example.com:4433' });
    expect(parseRemoteServer('https://[::1]:9')).toEqual({ host: '::1', port: 9, url: 'https://[::1]:9' });
    expect(() => parseRemoteServer('http://ap')).toThrow('the fleet link is TLS');
    expect(() => parseRemoteServer('https://ap/path')).toThrow('nothing after the port');
  });

  it('--remote-server: parsed once per text, the same answer again, and a bad one refused every time', () => {
    const first = parseRemoteServer('https://ap.example.com:7');
    expect(parseRemoteServer('https://ap.example.com:7')).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    for (let i = 0; i < 2; i++) expect(() => parseRemoteServer('http://ap')).toThrow('the fleet link is TLS');
  });

  it('--remote-server: user info is refused, and the password is never repeated', () => {
    for (const [text, shown] of [
      ['https://:pw@ap', 'https://***@ap'],
      ['https://user:pw@ap:4433/', 'https://***@ap:4433/'],
      ['user:pw@ap', '***@ap'],
      ['ftp://u:pw@ap', 'ftp://***@ap'],
      ['https://@ap', 'https://***@ap'],
    ]) {
      let message = '';
      try {
        parseRemoteServer(text!);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toBe(
        `invalid --remote-server '${shown}': user info (USER:PASSWORD@) is not allowed, the access point authenticates executors by certificate; use https://HOST[:PORT]`,
      );
      expect(message).not.toContain('pw');
    }
  });

  it('--fleet-listen', () => {
    expect(parseListenAddress('127.0.0.1:4433')).toEqual({ host: '127.0.0.1', port: 4433 });
    expect(parseListenAddress('[::]:4433')).toEqual({ host: '::', port: 4433 });
    expect(parseListenAddress(':4433')).toEqual({ host: '0.0.0.0', port: 4433 });
    expect(() => parseListenAddress('127.0.0.1:99999')).toThrow('invalid listen address');
  });
});

describe('log directives', () => {
  it('reads RUST_LOG-style directives', () => {
    expect(parseDirectives('ah_identity_provider=debug,ah_cli=debug')).toEqual({
      defaultLevel: 'info',
      components: { ah_identity_provider: 'debug', ah_cli: 'debug' },
    });
    expect(parseDirectives('warn,ah_transport=trace')).toEqual({ defaultLevel: 'warn', components: { ah_transport: 'trace' } });
    expect(parseDirectives('off')).toEqual({ defaultLevel: 'silent', components: {} });
    expect(parseDirectives('ah_cli::commands=debug,hyper=trace').components).toEqual({ ah_cli: 'debug' });
    expect(() => parseDirectives('ah_cli=chatty')).toThrow("invalid log level in directive 'ah_cli=chatty'");
  });
});

describe('executor SAN prefix', () => {
  it('matches at a path-segment boundary only', () => {
    const prefix = 'spiffe://example.org/ah/agent/';
    expect(uriUnderPrefix('spiffe://example.org/ah/agent/executor-1', prefix)).toBe(true);
    for (const evil of [
      // Not canonical: refused, never folded onto spiffe://example.org/ah/agent/executor-1.
      'spiffe://EXAMPLE.org/ah/agent/executor-1',
      'SPIFFE://example.org/ah/agent/executor-1',
      'spiffe://example.org/ah/agent//executor-1',
      'spiffe://example.org/ah/agent/executor-1/',
      'spiffe://example.org/ah/agent/executor-1?x=1',
      'spiffe://example.org/ah/agent-evil/x',
      'spiffe://example.org/ah/agentx',
      'spiffe://example.org/ah/agent/',
      'spiffe://example.org/ah/agent/../admin',
      'spiffe://example.org/ah/agent/%2e%2e/admin',
      'spiffe://example.org.evil/ah/agent/x',
      'spiffe://other.org/ah/agent/x',
    ]) {
      expect(uriUnderPrefix(evil, prefix), evil).toBe(false);
    }
    expect(uriUnderPrefix('spiffe://example.org/ah/agent/x', 'spiffe://example.org/ah/agent')).toBe(true);
    expect(uriUnderPrefix('spiffe://example.org/ah/agentx', 'spiffe://example.org/ah/agent')).toBe(false);
  });
});

describe('subject alternative names', () => {
  it('reads URIs, DNS names and IPs, including URIs node quotes', async () => {
    const now = Date.now();
    const pair = await createSelfSigned({
      commonName: 't',
      uris: ['spiffe://example.org/ah/agent/a,b'],
      dnsNames: ['ap.example.com'],
      ips: ['127.0.0.1'],
      notBefore: now,
      notAfter: now + 60_000,
      usage: 'server',
    });
    expect(subjectAltNames(new X509Certificate(pair.certPem))).toEqual({
      uris: ['spiffe://example.org/ah/agent/a,b'],
      dns: ['ap.example.com'],
      ips: ['127.0.0.1'],
    });
  });
});
