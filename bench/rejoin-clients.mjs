// A load process of the rejoin benchmark: one link per executor of its slice, each coming back on
// its own when its link drops, after a delay drawn by full jitter (the same policy on both sides).
// `plain`: a node:tls client that keeps its last session ticket in memory and offers it.
// `ah`: a real executor (createExecutor), which does the same through the product's code.
//   node rejoin-clients.mjs plain|ah MATERIAL.json PORT FROM TO CONCURRENCY BACKOFF_BASE_MS BACKOFF_CAP_MS
import 'reflect-metadata';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { createExecutor } from '../dist/index.js';
import { encodeFrame } from '../dist/transport/frame-codec.js';
import { backoffDelay } from '../dist/util/backoff.js';
import { serveIpc } from './ipc.mjs';
import { StaticProvider } from './material.mjs';

const [mode, materialFile, port, from, to, concurrency, baseMs, capMs] = process.argv.slice(2);
const { executors, server } = JSON.parse(readFileSync(materialFile, 'utf8'));
const mine = executors.slice(Number(from), Number(to));
const backoff = { baseMs: Number(baseMs), capMs: Number(capMs) };
const stateDir = mkdtempSync(join(tmpdir(), 'ah-bench-rejoin-'));
/** Per link: up now, and whether it went down since the last mark. */
const links = [];
const counters = { resumed: 0, full: 0 };
/** Dial failures by catalog code (ah), to tell a slow access point from a failing one. */
const errors = {};
let markedAt = 0;

function plainLink(e, link) {
  let session = null;
  let failures = 0;
  let stopped = false;
  const dial = () =>
    new Promise((resolve) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: Number(port),
        cert: e.first.certPem,
        key: e.first.keyPem,
        ca: server.certPem,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
        ALPNProtocols: ['ah-fleet/1'],
        ...(session ? { session } : {}),
      });
      let reused = false;
      socket.on('session', (s) => (session = s));
      socket.once('secureConnect', () => {
        reused = socket.isSessionReused();
        socket.write(encodeFrame({ type: 'hello', name: e.name, version: 'bench', labels: {} }));
      });
      socket.once('data', () => {
        failures = 0;
        reused ? counters.resumed++ : counters.full++;
        link.up = true;
        resolve();
      });
      socket.on('error', () => {});
      socket.once('close', () => {
        const wasUp = link.up;
        link.up = false;
        if (wasUp) link.dropped = true;
        else failures++;
        resolve();
        if (!stopped) setTimeout(dial, backoffDelay(backoff, Math.max(failures, 1), Math.random()));
      });
    });
  link.stop = () => {
    stopped = true;
  };
  return dial();
}

async function ahLink(e, link) {
  const executor = createExecutor({
    name: e.name,
    remoteServer: `https://127.0.0.1:${port}`,
    stateDir,
    provider: new StaticProvider([e.first], server.certPem),
    statusSocket: false,
    backoff,
  });
  executor.on('enrolled', () => {
    link.up = true;
    if (link.dropped) link.backAt ??= performance.now() - markedAt;
  });
  executor.on('error', (err) => {
    errors[err.code] = (errors[err.code] ?? 0) + 1;
    if (link.dropped) (link.history ??= []).push(`${(performance.now() - markedAt).toFixed(0)} ${err.code} ${err.message}`);
  });
  executor.on('disconnected', () => {
    if (link.up) link.dropped = true;
    if (link.dropped) (link.history ??= []).push(`${(performance.now() - markedAt).toFixed(0)} disconnected`);
    link.up = false;
  });
  link.stop = () => executor.stop();
  await executor.start();
  await executor.waitFor('enrolled', 120_000);
  link.up = true;
}

serveIpc({
  /** Links up; links that dropped since `mark` and are up again. */
  errors: () => errors,
  counters: () => ({ ...counters, up: links.filter((l) => l.up).length, back: links.filter((l) => l.up && l.dropped).length }),
  open: async () => {
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < mine.length) {
        const e = mine[next++];
        const link = { up: false, dropped: false, stop: () => {} };
        links.push(link);
        await (mode === 'plain' ? plainLink(e, link) : ahLink(e, link));
      }
    };
    await Promise.all(Array.from({ length: Number(concurrency) }, worker));
    return { ms: performance.now() - started };
  },
  /** The slowest links back since `mark`: when, and what happened to them. */
  slowest: ({ n = 3 }) =>
    links
      .filter((l) => l.dropped)
      .sort((a, b) => (b.backAt ?? Infinity) - (a.backAt ?? Infinity))
      .slice(0, n)
      .map((l) => ({ backAt: l.backAt, history: l.history })),
  mark: () => {
    markedAt = performance.now();
    for (const l of links) {
      l.dropped = false;
      l.history = undefined;
      l.backAt = undefined;
    }
    counters.resumed = 0;
    counters.full = 0;
    return true;
  },
  close: async () => {
    await Promise.all(links.map((l) => l.stop()));
    return true;
  },
});
