/**
 * The access point's live view (`--debug-listen`), in a real headless Chromium, while an executor
 * with a 4-second certificate rotates again and again: its row appears and follows its state, a
 * click draws its link's machine with the path, and the drawing moves on to the new link after a
 * rotation without the page being reloaded. Plus what the flag refuses.
 */
import { request } from 'node:http';
import { createServer } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon } from '../helpers/cli.js';
import { artifactPath, launchChromium, noBrowser } from '../helpers/browser.js';

const EXECUTOR_ID = 'spiffe://dev.local/ah/agent/live';
const WAIT = { timeout: 30_000 };

let browser: Browser;

afterAll(async () => {
  await browser?.close();
  await stopAll();
});

beforeAll(async () => {
  if (!noBrowser) browser = await launchChromium();
});

async function accessPoint(extra: string[]): Promise<{ daemon: Daemon; port: number; url: string }> {
  const daemon = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--heartbeat-interval', '500ms', '--state-dir', tempStateDir(), ...extra]);
  const listening = await daemon.waitForLine(isEvent('access_point_listening'), 'listening');
  const view = await daemon.waitForLine(isEvent('debug_view_listening'), 'the debug view');
  return { daemon, port: Number(String(listening.address).split(':').pop()), url: String(view.url) };
}

function get(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('--debug-listen', () => {
  it.skipIf(noBrowser)('shows an executor live while it rotates, and draws its link on click', async () => {
    const ap = await accessPoint(['--debug-listen', '127.0.0.1:0']);
    expect(ap.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    const requests: string[] = [];
    let loads = 0;
    page.on('request', (r) => requests.push(r.url()));
    // Selecting sets the URL's #executor=… (history.replaceState): not a load.
    page.on('load', () => loads++);
    await page.goto(ap.url);
    await page.waitForSelector('#conn.up', WAIT);
    expect(await page.locator('tr.executor').count()).toBe(0);

    // Started after the page: the row arrives over the event stream.
    const ex = startAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${ap.port}`,
      '--name',
      'live',
      '--dev-cert-ttl',
      '4s',
      '--state-dir',
      tempStateDir(),
    ]);
    const row = page.locator(`tr.executor[data-id="${EXECUTOR_ID}"]`);
    await row.and(page.locator('[data-state="active.live"]')).waitFor(WAIT);
    expect(await row.locator('td.name').textContent()).toBe('live');

    await row.click();
    const detail = page.locator('#detail');
    await detail.locator('section.actor svg').waitFor(WAIT);
    const first = (await detail.locator('section.actor').getAttribute('data-actor'))!;
    expect(first).toMatch(/^link-\d+$/);
    const id = (s: string) => `${first}/state:connection.${s}`;
    expect(await detail.locator(`[id="${id('active.live')}"]`).getAttribute('class')).toMatch(/\bcurrent\b/);
    for (const s of ['accepted', 'verifying', 'active']) expect(await detail.locator(`[id="${id(s)}"]`).getAttribute('class'), s).toMatch(/\bvisited\b/);
    for (const s of ['draining', 'closed']) expect(await detail.locator(`[id="${id(s)}"]`).getAttribute('class'), s).not.toMatch(/\bvisited\b/);
    expect(await detail.locator(`[id="${first}/edge:connection.accepted->connection.verifying"]`).getAttribute('class')).toMatch(/\btaken\b.*\bstep-2\b/);
    expect(await detail.locator(`[id="${first}/initial:connection"]`).getAttribute('class')).toMatch(/\btaken\b/);
    expect(await detail.locator('table.timeline tr.step').count()).toBe(3);

    // A rotation: a new link is welcomed and the old one says goodbye. The page follows by itself.
    await detail.locator(`section.actor:not([data-actor="${first}"])`).waitFor(WAIT);
    const second = (await detail.locator('section.actor').getAttribute('data-actor'))!;
    expect(Number(second.slice(5))).toBeGreaterThan(Number(first.slice(5)));
    await detail.locator('ul.earlier li', { hasText: `${first}: accepted → verifying → active.live → closed (GOODBYE)` }).waitFor(WAIT);
    expect(await detail.locator(`[id="${second}/state:connection.active.live"]`).getAttribute('class')).toMatch(/\bcurrent\b/);
    await expect.poll(async () => (await row.locator('td.links').textContent())!, WAIT).toMatch(/^1 open \/ [2-9]/);
    expect(await row.getAttribute('class')).toMatch(/\bselected\b/);
    await page.screenshot({ path: artifactPath('live-view-rotation.png'), fullPage: true });

    expect(loads).toBe(1);
    expect(requests.every((u) => u.startsWith(ap.url))).toBe(true);
    await page.close();
    await ex.stop();
    await ap.daemon.stop();
  });

  it('answers only to a loopback Host (no DNS rebinding), GET only', async () => {
    const ap = await accessPoint(['--debug-listen', '127.0.0.1:0']);
    const port = new URL(ap.url).port;
    expect(await get(ap.url, `127.0.0.1:${port}`)).toBe(200);
    expect(await get(ap.url, `localhost:${port}`)).toBe(200);
    expect(await get(ap.url, `evil.example:${port}`)).toBe(403);
    expect(await get(`${ap.url}api/fleet`, `attacker.test`)).toBe(403);
    expect(await get(`${ap.url}nope`, `127.0.0.1:${port}`)).toBe(404);
    await ap.daemon.stop();
  });

  it('refuses other addresses than loopback unless allowed, and says when its port is taken', async () => {
    const remote = await runAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--debug-listen', '0.0.0.0:0', '--state-dir', tempStateDir()]);
    expect(remote.code).toBe(2);
    expect(remote.stderr).toBe(
      "error: --debug-listen 0.0.0.0:0 is not a loopback address: the live view shows the fleet's names and addresses to anyone who connects; use 127.0.0.1:PORT, or add --debug-allow-remote\n",
    );
    const alone = await runAh(['agent', 'access-point', '--debug-allow-remote', '--state-dir', tempStateDir()]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toBe('error: --debug-allow-remote needs --debug-listen\n');

    const allowed = await accessPoint(['--debug-listen', '0.0.0.0:0', '--debug-allow-remote']);
    expect(allowed.daemon.lines.find(isEvent('debug_view_listening'))).toMatchObject({ level: 30, loopback: false });
    await allowed.daemon.stop();

    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      const busy = await runAh([
        'agent',
        'access-point',
        '--fleet-listen',
        '127.0.0.1:0',
        '--debug-listen',
        `127.0.0.1:${port}`,
        '--state-dir',
        tempStateDir(),
      ]);
      expect(busy.code).toBe(1);
      expect(busy.stderr.split('\n')[0]).toBe(`error: cannot listen on 127.0.0.1:${port}: address already in use`);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
