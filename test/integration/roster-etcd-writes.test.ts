/**
 * The etcd roster's writes against a real etcd, with the access point's links played by a map:
 * a departure right behind an enrollment is never overtaken by it (one write per identity at a
 * time), keys spread over leases of bounded size, and a stop revokes them all at once.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LinkPresence } from '../../src/actors/executor-links.js';
import { EtcdRoster, type RosterLinks } from '../../src/actors/roster-etcd.js';
import { parseRosterUrl } from '../../src/actors/roster-etcd-records.js';
import { silentLogging } from '../../src/log/logger.js';
import { TestEtcd } from '../helpers/etcd.js';
import { eventually } from '../helpers/eventually.js';
import { skipWithout } from '../helpers/tools.js';

let etcd: TestEtcd;

function presence(name: string): LinkPresence {
  const now = Date.now();
  return {
    linkId: `link-${name}`,
    name,
    since: now,
    admittedAt: now,
    serial: '01',
    notAfter: now + 86_400_000,
    labels: {},
    state: 'active',
    remoteAddress: '127.0.0.1:1',
    spki: generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' }),
    nonce: 'n',
    continues: null,
    checked: false,
  };
}

class FakeLinks implements RosterLinks {
  readonly open = new Map<string, LinkPresence>();
  superseded: string[] = [];
  presenceOf(id: string) {
    return this.open.get(id);
  }
  identities() {
    return this.open.keys();
  }
  supersedeIdentity(id: string) {
    this.superseded.push(id);
    return 1;
  }
  /** What the links answer when a second holder turns up late: take it over (supersede) or not (reject). */
  takeLateDuplicates = true;
  lateDuplicates: Array<{ id: string; accessPoint: string }> = [];
  lateHolder(id: string, holder: { accessPoint: string }) {
    this.lateDuplicates.push({ id, accessPoint: holder.accessPoint });
    // As the real links do: the link is now judged against that holder.
    const link = this.open.get(id);
    if (link) this.open.set(id, { ...link, checked: true });
    return this.takeLateDuplicates;
  }
}

async function keys(prefix: string): Promise<Record<string, string>> {
  const client = etcd.client();
  try {
    const kvs = (await client.getAll().prefix(prefix).exec()).kvs;
    return Object.fromEntries(kvs.map((kv) => [kv.key.toString().slice(prefix.length), String(kv.lease)]));
  } finally {
    client.close();
  }
}

describe.skipIf(skipWithout('etcd'))('etcd roster writes', () => {
  beforeAll(async () => {
    etcd = await TestEtcd.start();
  }, 60_000);
  afterAll(async () => {
    await etcd?.stop();
  });

  it('writes presence on leases of bounded size, never lets a departure be overtaken, and a stop takes every key with it', async () => {
    const links = new FakeLinks();
    const prefix = '/writes/';
    const roster = new EtcdRoster(
      { endpoints: parseRosterUrl(etcd.url), prefix, accessPointId: 'ap-w', address: 'https://127.0.0.1:1', leaseTtlMs: 10_000, maxKeysPerLease: 2 },
      links,
      silentLogging().get('ah_roster'),
    );
    const connected = new Promise((resolve) => roster.once('connected', resolve));
    roster.start();
    await connected;
    const ids = ['a', 'b', 'c', 'd', 'e'].map((n) => `spiffe://t/${n}`);
    for (const id of ids) {
      links.open.set(id, presence(id));
      roster.changed(id);
    }
    // One enrolls and leaves at once: its delete waits for its write, and wins.
    links.open.delete(ids[4]!);
    roster.changed(ids[4]!);
    const written = await eventually(
      () => keys(prefix),
      (k) => ids.slice(0, 4).every((id) => `presence/${id}` in k) && roster.status().pending === 0,
      'four presence keys',
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    await eventually(
      () => keys(prefix),
      (k) => !(`presence/${ids[4]}` in k),
      'the departed identity to be gone',
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    // Five keys (the access point's own and four presences), two a lease at most.
    const perLease: Record<string, number> = {};
    for (const lease of Object.values(written)) perLease[lease] = (perLease[lease] ?? 0) + 1;
    expect(Object.values(perLease).every((n) => n <= 2)).toBe(true);
    expect(Object.keys(perLease)).toHaveLength(3);
    expect(roster.status()).toMatchObject({ connected: true, owned: 4, leases: 3, ownKeyPresent: true });
    expect(roster.accessPoints()).toEqual([{ id: 'ap-w', address: 'https://127.0.0.1:1', state: 'serving', executors: 4 }]);
    await roster.stop();
    expect(await keys(prefix)).toEqual({});
    expect(links.superseded).toEqual([]);
  }, 60_000);

  it('a link that changes after the roster stopped (the last links of a drain) is not written, and the process keeps turning', async () => {
    const links = new FakeLinks();
    const roster = new EtcdRoster(
      { endpoints: parseRosterUrl(etcd.url), prefix: '/stopped/', accessPointId: 'ap-s', address: 'https://127.0.0.1:1', leaseTtlMs: 10_000 },
      links,
      silentLogging().get('ah_roster'),
    );
    const connected = new Promise((resolve) => roster.once('connected', resolve));
    roster.start();
    await connected;
    const id = 'spiffe://t/late';
    links.open.set(id, presence(id));
    await roster.stop();
    // A link that rotates after the stop: a write the closed client refuses at once.
    roster.changed(id);
    // A write on the closed client failed at once and retried from its own callback without ever
    // yielding: the event loop never came back (an access point hung after its drain).
    const turned = await Promise.race([
      new Promise((resolve) => setTimeout(() => resolve(true), 200)),
      new Promise((resolve) => setImmediate(() => resolve(true))),
    ]);
    expect(turned).toBe(true);
    expect(await keys('/stopped/')).toEqual({});
  }, 60_000);

  it('a second holder at another live access point that the copy showed only after admission is judged then: taken over or yielded', async () => {
    const links = new FakeLinks();
    const prefix = '/late/';
    const client = etcd.client();
    const foreign = (name: string) =>
      JSON.stringify({
        accessPoint: 'ap-x',
        epoch: 1,
        name,
        since: new Date().toISOString(),
        serial: '02',
        notAfter: new Date(Date.now() + 86_400_000).toISOString(),
        labels: {},
        state: 'active',
        remoteAddress: '10.0.0.9:1',
        spki: generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
        nonce: 'x',
        continues: null,
      });
    await client.put(`${prefix}access-points/ap-x`).value(JSON.stringify({ id: 'ap-x', address: 'https://10.0.0.9:4433', state: 'serving', executors: 2 }));
    await client.put(`${prefix}presence/spiffe://t/x`).value(foreign('x'));
    await client.put(`${prefix}presence/spiffe://t/y`).value(foreign('y'));
    const roster = new EtcdRoster(
      { endpoints: parseRosterUrl(etcd.url), prefix, accessPointId: 'ap-w', address: 'https://127.0.0.1:1', leaseTtlMs: 10_000 },
      links,
      silentLogging().get('ah_roster'),
    );
    try {
      const connected = new Promise((resolve) => roster.once('connected', resolve));
      roster.start();
      await connected;
      // Under supersede: the newer link here takes the identity over.
      links.open.set('spiffe://t/x', presence('x'));
      roster.changed('spiffe://t/x');
      await eventually(
        () => roster.cache.presence.get('spiffe://t/x')?.record.accessPoint,
        (ap) => ap === 'ap-w',
        'x taken over',
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      // Under reject: the holder keeps it, and the link here is closed.
      links.takeLateDuplicates = false;
      links.open.set('spiffe://t/y', presence('y'));
      roster.changed('spiffe://t/y');
      await eventually(
        () => links.superseded,
        (s) => s.includes('spiffe://t/y'),
        'y given up',
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      expect(links.lateDuplicates).toEqual([
        { id: 'spiffe://t/x', accessPoint: 'ap-x' },
        { id: 'spiffe://t/y', accessPoint: 'ap-x' },
      ]);
      expect(roster.cache.presence.get('spiffe://t/y')?.record.accessPoint).toBe('ap-x');
    } finally {
      await roster.stop();
      client.close();
    }
  }, 60_000);
});
