/** What the etcd roster reads from etcd and from its flags: bad input is refused, never trusted. */
import { describe, expect, it } from 'vitest';
import { parseAccessPoint, parsePresence, parseRosterPrefix, parseRosterUrl, rosterKeys } from '../../src/actors/roster-etcd-records.js';

const presence = {
  accessPoint: 'ap-1',
  epoch: 1796058617042,
  name: 'web-1',
  since: '2026-11-30T14:29:15.626Z',
  serial: '49DC',
  notAfter: '2026-12-01T14:29:15.000Z',
  labels: { zone: 'a' },
  state: 'active',
  remoteAddress: '10.0.0.7:43496',
  spki: 'MFkwEwYHKoZIzj0CAQ==',
  nonce: 'n1',
  continues: null,
};

describe('roster records', () => {
  it('reads a presence record back as written, and skips one with a field of the wrong kind', () => {
    expect(parsePresence(JSON.stringify(presence))).toEqual(presence);
    expect(parsePresence(JSON.stringify({ ...presence, epoch: '1' }))).toBeNull();
    expect(parsePresence(JSON.stringify({ ...presence, state: 'late' }))).toBeNull();
    expect(parsePresence(JSON.stringify({ ...presence, labels: { zone: 1 } }))).toBeNull();
    expect(parsePresence('not json')).toBeNull();
    expect(parsePresence('[]')).toBeNull();
  });

  it('reads an access point key, and skips an unknown state', () => {
    const ap = { id: 'ap-1', address: 'https://10.0.0.1:4433', state: 'draining', executors: 3 };
    expect(parseAccessPoint(JSON.stringify(ap))).toEqual(ap);
    expect(parseAccessPoint(JSON.stringify({ ...ap, state: 'gone' }))).toBeNull();
  });

  it('lays keys out under the prefix and tells them apart', () => {
    const keys = rosterKeys('/ah/');
    expect(keys.presence('spiffe://example.org/ah/agent/web-1')).toBe('/ah/presence/spiffe://example.org/ah/agent/web-1');
    expect(keys.classify('/ah/presence/spiffe://example.org/ah/agent/web-1')).toEqual({ kind: 'presence', id: 'spiffe://example.org/ah/agent/web-1' });
    expect(keys.classify('/ah/access-points/ap-1')).toEqual({ kind: 'access-point', id: 'ap-1' });
    expect(keys.classify('/ah/presence/')).toBeNull();
    expect(keys.classify('/ah/filler/1')).toBeNull();
  });

  it('takes etcd:// and etcds:// endpoint lists, and names what is wrong in any other', () => {
    expect(parseRosterUrl('etcd://10.0.0.5:2379,10.0.0.6:2379')).toEqual({ tls: false, hosts: ['http://10.0.0.5:2379', 'http://10.0.0.6:2379'] });
    expect(parseRosterUrl('etcds://etcd.example.org:2379')).toEqual({ tls: true, hosts: ['https://etcd.example.org:2379'] });
    expect(parseRosterUrl('etcd://[::1]:2379').hosts).toEqual(['http://[::1]:2379']);
    expect(() => parseRosterUrl('http://10.0.0.5:2379')).toThrow("expected etcd://HOST:PORT[,HOST:PORT...] or etcds://... for TLS, got 'http://10.0.0.5:2379'");
    expect(() => parseRosterUrl('etcd://10.0.0.5')).toThrow("expected HOST:PORT in --roster, got '10.0.0.5'");
    expect(() => parseRosterUrl('etcd://10.0.0.5:0')).toThrow("expected HOST:PORT in --roster, got '10.0.0.5:0'");
  });

  it('takes a prefix that starts and ends with a slash', () => {
    expect(parseRosterPrefix('/ah/')).toBe('/ah/');
    expect(parseRosterPrefix('/fleets/prod/')).toBe('/fleets/prod/');
    expect(() => parseRosterPrefix('ah/')).toThrow(/expected a key prefix like \/ah\//);
    expect(() => parseRosterPrefix('/ah')).toThrow(/expected a key prefix like \/ah\//);
  });
});
