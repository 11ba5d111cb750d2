/**
 * `ah agent visualize` on logs recorded from real runs, the page opened in a real headless
 * Chromium (Debian's, driven by playwright-core): the machines drawn, the replayed path laid over
 * them (visited states, numbered transitions, the state it ended in), the timeline, the stuck
 * diagnosis, and nothing loaded from anywhere. Screenshots go to test-artifacts/.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type LogLine } from '../helpers/cli.js';
import { artifactPath, launchChromium, noBrowser } from '../helpers/browser.js';
import { recordStdout } from '../helpers/recorded-log.js';

const ENROLLMENT_STATES = [
  'disconnected',
  'disconnected.waitingForIdentity',
  'disconnected.backingOff',
  'disconnected.failingOver',
  'disconnected.stopped',
  'handshaking',
  'enrolled',
  'renewing',
  'renewing.obtaining',
  'renewing.applying',
  'renewing.retryWait',
  'relinking',
  'relinking.elsewhere',
  'relinking.waitingToReturn',
  'relinking.returning',
  'relinking.stranded',
  'failed',
];

let browser: Browser;
let dir: string;
const logs: Record<string, string> = {};

afterAll(async () => {
  await browser?.close();
  await stopAll();
});

beforeAll(async () => {
  if (!noBrowser) browser = await launchChromium();
  dir = tempStateDir('ah-vis-');
  const state = tempStateDir();
  const ap = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--heartbeat-interval', '500ms', '--state-dir', state, '--log-level', 'debug']);
  const port = Number(
    String((await ap.waitForLine(isEvent('access_point_listening'), 'listening')).address)
      .split(':')
      .pop(),
  );
  const rot = startAh([
    'agent',
    'enroll',
    '--remote-server',
    `https://127.0.0.1:${port}`,
    '--name',
    'rot',
    '--dev-cert-ttl',
    '4s',
    '--state-dir',
    state,
    '--log-level',
    'debug',
  ]);
  const raw = recordStdout(rot);

  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const deadPort = (dead.address() as { port: number }).port;
  await new Promise((r) => dead.close(r));
  const storm = startAh([
    'agent',
    'enroll',
    '--remote-server',
    `https://127.0.0.1:${deadPort}`,
    '--name',
    'storm',
    '--backoff-base',
    '50ms',
    '--backoff-max',
    '200ms',
    '--state-dir',
    state,
    '--log-level',
    'debug',
  ]);
  const stormRaw = recordStdout(storm);

  let welcomes = 0;
  await rot.waitForLine(
    (l: LogLine) => l.kind === 'event' && (l.event as { type: string }).type === 'LINK_WELCOMED' && ++welcomes >= 3,
    'two rotations',
    40_000,
  );
  await storm.waitForLine(
    () => storm.lines.filter((l) => l.kind === 'event' && (l.event as { type: string }).type === 'LINK_FAILED').length >= 5,
    'five failures',
  );
  writeFileSync((logs.storm = join(dir, 'storm.log')), stormRaw.text());
  await storm.stop();
  await rot.stop();
  logs.rot = raw.save(dir, 'rot.log');
  await ap.stop();
}, 120_000);

/** Open a file, remembering every request the page makes. */
async function open(file: string): Promise<{ page: Page; requests: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(pathToFileURL(file).href);
  return { page, requests };
}

const classesOf = (page: Page, id: string) => page.locator(`[id="${id}"]`).getAttribute('class');

describe('ah agent visualize', () => {
  it.skipIf(noBrowser)('draws a rotating executor: every state, the visited ones, the numbered path and where it ended', async () => {
    const out = join(dir, 'rot.html');
    const r = await runAh(['agent', 'visualize', '--log', logs.rot!, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`wrote ${out} (2 actors, 0 stuck)\n`);
    const replay = JSON.parse((await runAh(['agent', 'replay', logs.rot!, '--json'])).stdout);
    const steps = replay.actors.find((a: any) => a.actor === 'executor:rot').steps;

    const { page, requests } = await open(out);
    const section = page.locator('section.actor[data-actor="executor:rot"]');
    await expect.poll(() => section.locator('svg').count()).toBe(1);
    const id = (s: string) => `executor:rot/state:enrollment.${s}`;
    for (const s of ENROLLMENT_STATES) expect(await section.locator(`[id="${id(s)}"]`).count(), s).toBe(1);

    for (const s of ['handshaking', 'enrolled', 'renewing.obtaining', 'renewing.applying', 'disconnected.waitingForIdentity']) {
      expect(await classesOf(page, id(s)), s).toMatch(/\bvisited\b/);
    }
    for (const s of ['failed', 'disconnected.backingOff', 'renewing.retryWait']) expect(await classesOf(page, id(s)), s).not.toMatch(/\bvisited\b/);
    // It was stopped (SIGTERM): it ended in disconnected.stopped, drawn as the current state.
    expect(await classesOf(page, id('disconnected.stopped'))).toMatch(/\bcurrent\b/);
    expect(await section.locator('g.node.current').count()).toBe(1);
    expect(
      await section
        .locator(`[id="${id('disconnected.stopped')}"] path, [id="${id('disconnected.stopped')}"] polygon`)
        .first()
        .getAttribute('fill'),
    ).toBe('#ffb74d');

    // Each rotation took renewing.applying -> enrolled; its arrow carries every step number.
    const rotated = section.locator(`[id="executor:rot/edge:enrollment.renewing.applying->enrollment.enrolled"]`);
    const rotations = steps.filter((s: any, i: number) => s.path === 'enrolled' && steps[i - 1]?.path === 'renewing.applying').length;
    expect(rotations).toBeGreaterThanOrEqual(2);
    expect((await rotated.getAttribute('class'))!.split(/\s+/).filter((c) => /^step-\d+$/.test(c))).toHaveLength(rotations);
    expect(await rotated.locator('text').allTextContents()).toContain('▶ LINK_WELCOMED [fromCandidate]');
    expect(await section.locator('g.edge.taken').count()).toBeGreaterThanOrEqual(6);
    expect(await section.locator('g.edge.taken path').first().getAttribute('stroke')).toBe('#d32f2f');

    // The timeline: one row per step; a click outlines that step's transition in the drawing.
    expect(await section.locator('table.timeline tr.step').count()).toBe(steps.length);
    const n = steps.findIndex((s: any) => s.path === 'renewing.applying') + 1;
    await section.locator(`tr.step[data-step="${n}"]`).click();
    await expect.poll(() => section.locator(`g.edge.focus`).count()).toBe(1);
    expect(await section.locator('g.edge.focus').getAttribute('class')).toMatch(new RegExp(`\\bstep-${n}\\b`));
    expect(await section.locator('.verdict').textContent()).toBe('rebuilt path matches the log');

    await page.screenshot({ path: artifactPath('visualize-rotation.png'), fullPage: true });
    // Self-contained: the file itself and nothing else.
    expect(requests).toEqual([pathToFileURL(out).href]);
    expect(readFileSync(out, 'utf8')).not.toMatch(/(src|href)="(https?:)?\/\//);
    await page.close();
  });

  it.skipIf(noBrowser)("shows a retry storm's diagnosis in the guide's words", async () => {
    const out = join(dir, 'storm.html');
    const r = await runAh(['agent', 'visualize', '--log', logs.storm!, '--actor', 'storm', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`wrote ${out} (2 actors, 1 stuck)\n`);
    const { page } = await open(out);
    const box = page.locator('section.actor[data-actor="executor:storm"] .diagnosis');
    expect(await box.getAttribute('data-code')).toBe('ENROLL_CONNECTION_REFUSED');
    const text = (await box.locator('pre').textContent())!;
    expect(text.split('\n')[0]).toMatch(/^error: connection refused to 127\.0\.0\.1:\d+$/);
    expect(text).toContain('systemctl status ah-access-point      # Check if access point is running');
    expect(await page.locator('section.diagnoses li').count()).toBe(1);
    // The backoff loop is drawn taken again and again: handshaking <-> disconnected.backingOff.
    const loop = page.locator('[id="executor:storm/edge:enrollment.handshaking->enrollment.disconnected.backingOff"]');
    expect((await loop.getAttribute('class'))!.split(/\s+/).filter((c) => c.startsWith('step-')).length).toBeGreaterThanOrEqual(4);
    expect((await loop.locator('text').allTextContents()).join(' ')).toMatch(/#\d+ #\d+ #\d+ … #\d+ \(\d+×\)/);
    await page.screenshot({ path: artifactPath('visualize-retry-storm.png'), fullPage: true });
    await page.close();
  });

  it.skipIf(noBrowser)('without --log draws the four machines alone', async () => {
    const out = join(dir, 'machines.html');
    const r = await runAh(['agent', 'visualize', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const { page, requests } = await open(out);
    expect(await page.locator('section.machine-only').evaluateAll((s) => s.map((e) => e.getAttribute('data-machine')))).toEqual([
      'enrollment',
      'rotation',
      'connection',
      'access-point',
    ]);
    for (const s of ENROLLMENT_STATES) expect(await page.locator(`[id="state:enrollment.${s}"]`).count(), s).toBe(1);
    for (const s of ['loading', 'valid', 'renew-due', 'renewing', 'expired']) expect(await page.locator(`[id="state:rotation.${s}"]`).count(), s).toBe(1);
    for (const s of ['accepted', 'verifying', 'active', 'draining', 'closed']) expect(await page.locator(`[id="state:connection.${s}"]`).count(), s).toBe(1);
    expect(await page.locator('.visited, .taken').count()).toBe(0);
    // After timers and eventless transitions are named as people read them.
    expect(await page.locator('[id="edge:rotation.valid->rotation.renew-due"] text').allTextContents()).toEqual(['after untilRenewal']);
    expect(await page.locator('[id="edge:rotation.renew-due->rotation.renewing"] text').allTextContents()).toEqual(['always [canIssue]']);
    await page.screenshot({ path: artifactPath('visualize-machines.png'), fullPage: true });
    expect(requests).toHaveLength(1);
    await page.close();
  });

  it('reports a bad log or a missing --out like replay does', async () => {
    const junk = join(dir, 'junk.log');
    writeFileSync(junk, '{"level":20,"component":"ah_machine","kind":"ev\n');
    const bad = await runAh(['agent', 'visualize', '--log', junk, '--out', join(dir, 'x.html')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: cannot replay \S+: line 1: line cut short \(no closing brace\): .*\n$/);
    const usage = await runAh(['agent', 'visualize', '--log', logs.rot!]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe("error: required option '--out <file.html>' not specified\n");
  });
});
