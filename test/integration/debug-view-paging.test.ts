/**
 * The live view at fleet scale, in-process over real sockets: a burst of a thousand events is one
 * event-stream message, and a stream gets at most one a second; each stream gets the page and the
 * search it asked for. With a real access point whose roster is filled with synthetic entries:
 * counts by state and the histogram of certificate time left cover the whole fleet, while a page
 * holds a hundred rows, in name order, searchable by name or ID.
 */
import { request, type IncomingMessage } from 'node:http';
import { EventEmitter } from 'eventemitter3';
import { afterEach, describe, expect, it } from 'vitest';
import { createAccessPoint, type AccessPoint } from '../../src/index.js';
import { BATCH_MS, DebugServer } from '../../src/visualize/live/debug-server.js';
import type { FleetQuery } from '../../src/visualize/live/fleet-page.js';
import { type FleetSnapshot, FleetView } from '../../src/visualize/live/fleet-view.js';
import { artifactPath, launchChromium, noBrowser } from '../helpers/browser.js';
import { tempStateDir } from '../helpers/cli.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Counts the changes it announces; its snapshot says how many it had seen, when, and for what query. */
class CountingFleet extends EventEmitter<{ changed: []; touched: [] }> {
  changes = 0;
  snapshot(query: FleetQuery) {
    return { changes: this.changes, at: performance.now(), query };
  }
  executorView() {
    return null;
  }
  close() {}
  burst(n: number) {
    for (let i = 0; i < n; i++) {
      this.changes++;
      this.emit(i % 2 ? 'changed' : 'touched');
    }
  }
}

/** An event stream's messages, and a wait for the next one. */
function openEvents<T>(url: string): Promise<{ messages: T[]; next: () => Promise<T>; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      const messages: T[] = [];
      const waiting: Array<(m: T) => void> = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buffer += d;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const data = buffer
            .slice(0, end)
            .split('\n')
            .find((l) => l.startsWith('data: '));
          buffer = buffer.slice(end + 2);
          if (!data) continue;
          const m = JSON.parse(data.slice(6)) as T;
          messages.push(m);
          waiting.shift()?.(m);
        }
      });
      let seen = 0;
      const next = () =>
        new Promise<T>((done, fail) => {
          const want = ++seen;
          if (messages.length >= want) return done(messages[want - 1]!);
          const timer = setTimeout(() => fail(new Error(`no message ${want} within 20 s`)), 20_000);
          waiting.push((m) => {
            clearTimeout(timer);
            done(m);
          });
        });
      cleanups.push(() => req.destroy());
      resolve({ messages, next, res });
    });
    req.on('error', reject);
    req.end();
  });
}

function getJson<T>(url: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(JSON.parse(body) as T));
    });
    req.on('error', reject);
    req.end();
  });
}

async function serve(view: unknown): Promise<DebugServer> {
  const server = new DebugServer({ listen: { host: '127.0.0.1', port: 0 }, view: view as FleetView });
  await server.listen();
  cleanups.push(() => server.close());
  return server;
}

describe('live view event streams are batched', () => {
  it('a burst of 1000 events is one message, and a stream gets at most one a second', async () => {
    const fleet = new CountingFleet();
    const server = await serve(fleet);
    type M = ReturnType<CountingFleet['snapshot']>;
    const stream = await openEvents<M>(`${server.url}events`);
    const first = await stream.next();
    expect(first.changes).toBe(0);

    fleet.burst(1000);
    const second = await stream.next();
    // Everything the burst changed, in one message, no earlier than a second after the first.
    expect(second.changes).toBe(1000);
    expect(stream.messages).toHaveLength(2);
    expect(second.at - first.at).toBeGreaterThanOrEqual(BATCH_MS);

    fleet.burst(1000);
    const third = await stream.next();
    expect(third.changes).toBe(2000);
    expect(stream.messages).toHaveLength(3);
    expect(third.at - second.at).toBeGreaterThanOrEqual(BATCH_MS);
  });

  it('each stream gets the search and the page it asked for', async () => {
    const fleet = new CountingFleet();
    const server = await serve(fleet);
    type M = ReturnType<CountingFleet['snapshot']>;
    const plain = await openEvents<M>(`${server.url}events`);
    const searched = await openEvents<M>(`${server.url}events?q=${encodeURIComponent(' web-1 ')}&page=3`);
    expect((await plain.next()).query).toEqual({ q: '', page: 1 });
    expect((await searched.next()).query).toEqual({ q: 'web-1', page: 3 });
    fleet.burst(10);
    expect((await searched.next()).query).toEqual({ q: 'web-1', page: 3 });
    expect((await plain.next()).query).toEqual({ q: '', page: 1 });
  });
});

describe('live view of a large fleet', () => {
  const N = 250;
  const H = 3_600_000;

  /** Names web-000..; every fifth expired, every fifth late; ends spread from 5 minutes to 10 days. */
  async function syntheticFleet(): Promise<{ ap: AccessPoint; server: DebugServer; ends: number[] }> {
    const ap = createAccessPoint({ listen: '127.0.0.1:0', stateDir: tempStateDir(), statusSocket: false, heartbeatIntervalMs: 60_000 });
    const view = new FleetView(ap);
    await ap.start();
    cleanups.push(() => ap.stop());
    const t0 = Date.now();
    const ends: number[] = [];
    for (let i = 0; i < N; i++) {
      const name = `${i % 2 ? 'web' : 'db'}-${String(i).padStart(3, '0')}`;
      const certNotAfter = i % 5 === 0 ? t0 - 1000 : t0 + [5 * 60_000, 30 * 60_000, 3 * H, 12 * H, 3 * 24 * H, 10 * 24 * H][i % 6]!;
      ends.push(certNotAfter);
      ap.roster.admit({
        executorId: `spiffe://view.test/ah/agent/${name}`,
        name,
        linkId: `l${i}`,
        remoteAddress: '10.0.0.1:1',
        certNotAfter,
        serial: 'AA',
        at: i % 5 === 1 ? t0 - 600_000 : t0,
      });
    }
    return { ap, server: await serve(view), ends };
  }

  it('counts and the histogram cover the whole fleet; a page holds 100 rows in name order', async () => {
    const { server, ends } = await syntheticFleet();
    const now = Date.now();
    const first = await getJson<FleetSnapshot>(`${server.url}api/fleet`);
    expect(first.counts).toEqual({ active: 150, rotating: 0, late: 50, expired: 50, departed: 0, unadmitted: 0 });
    const bucket = (left: number) =>
      left <= 0
        ? 'expired'
        : left < 10 * 60_000
          ? '< 10m'
          : left < H
            ? '< 1h'
            : left < 6 * H
              ? '< 6h'
              : left < 24 * H
                ? '< 1d'
                : left < 7 * 24 * H
                  ? '< 7d'
                  : '≥ 7d';
    const want = new Map<string, number>();
    for (const end of ends) want.set(bucket(end - now), (want.get(bucket(end - now)) ?? 0) + 1);
    expect(first.timeLeft.map((b) => b.label)).toEqual(['expired', '< 10m', '< 1h', '< 6h', '< 1d', '< 7d', '≥ 7d']);
    for (const b of first.timeLeft) expect(b.count, b.label).toBe(want.get(b.label) ?? 0);

    const names = Array.from({ length: N }, (_, i) => `${i % 2 ? 'web' : 'db'}-${String(i).padStart(3, '0')}`).sort();
    expect(first).toMatchObject({ matched: N, page: 1, pages: 3, pageSize: 100 });
    expect(first.executors.map((e) => e.name)).toEqual(names.slice(0, 100));
    const third = await getJson<FleetSnapshot>(`${server.url}api/fleet?page=3`);
    expect(third.executors.map((e) => e.name)).toEqual(names.slice(200));
    // Past the end: the last page.
    expect((await getJson<FleetSnapshot>(`${server.url}api/fleet?page=9`)).page).toBe(3);
    expect(third.executors[0]).toMatchObject({ present: true, state: 'unknown' });
    expect(third.executors.map((e) => e.fleetState)).toContain('late');
  });

  it('searches by name or ID substring, case-insensitive, and pages the matches', async () => {
    const { server } = await syntheticFleet();
    const byName = await getJson<FleetSnapshot>(`${server.url}api/fleet?q=WEB-1`);
    expect(byName.executors.map((e) => e.name)).toEqual(
      Array.from({ length: N }, (_, i) => i)
        .filter((i) => i % 2 && String(i).padStart(3, '0').startsWith('1'))
        .map((i) => `web-${String(i).padStart(3, '0')}`),
    );
    expect(byName).toMatchObject({ q: 'WEB-1', page: 1, pages: 1 });
    const byId = await getJson<FleetSnapshot>(`${server.url}api/fleet?q=${encodeURIComponent('agent/db-24')}`);
    expect(byId.executors.map((e) => e.name)).toEqual(['db-240', 'db-242', 'db-244', 'db-246', 'db-248']);
    // The counts stay the whole fleet's.
    expect(byId.counts.active + byId.counts.late + byId.counts.expired).toBe(N);
    const none = await getJson<FleetSnapshot>(`${server.url}api/fleet?q=nobody`);
    expect(none).toMatchObject({ matched: 0, page: 1, pages: 1, executors: [] });
  });

  it.skipIf(noBrowser)('in Chromium: the counts and bars on top, 100 rows a page, the pager and the search box', async () => {
    const WAIT = { timeout: 20_000 };
    const { server } = await syntheticFleet();
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(server.url);
    await page.waitForSelector('#conn.up', WAIT);
    await expect.poll(() => page.locator('tr.executor').count(), WAIT).toBe(100);
    const names = async () => page.locator('tr.executor td.name').allTextContents();
    const all = Array.from({ length: N }, (_, i) => `${i % 2 ? 'web' : 'db'}-${String(i).padStart(3, '0')}`).sort();
    expect(await names()).toEqual(all.slice(0, 100));
    expect(await page.locator('#counts [data-state="late"] b').textContent()).toBe('50');
    expect(await page.locator('#counts [data-state="active"] b').textContent()).toBe('150');
    expect(await page.locator('#time-left .bar[data-label="expired"]').getAttribute('data-count')).toBe('50');
    expect(await page.locator('#page').textContent()).toBe('page 1 of 3 (250)');
    // db-000 is expired (every fifth), db-002 ends in 3 hours.
    expect(await page.locator('tr.executor[data-id$="/db-000"] td.fleet-state').textContent()).toBe('expired');
    expect(await page.locator('tr.executor[data-id$="/db-002"] td.cert').textContent()).toMatch(/^in (3\.0|2\.9)h$/);

    await page.click('#next');
    await page.locator('#page', { hasText: 'page 2 of 3' }).waitFor(WAIT);
    expect(await names()).toEqual(all.slice(100, 200));

    await page.fill('#search', 'web-24');
    await page.locator('#page', { hasText: 'page 1 of 1 (5 matching)' }).waitFor(WAIT);
    expect(await names()).toEqual(['web-241', 'web-243', 'web-245', 'web-247', 'web-249']);
    await page.screenshot({ path: artifactPath('live-view-search.png') });
    expect(requests.every((u) => u.startsWith(server.url))).toBe(true);
  });
});
