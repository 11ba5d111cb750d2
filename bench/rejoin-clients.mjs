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
/**
 * Dial failures and lost links (ah) by catalog code and message, numbers masked: a slow access
 * point, a failing one and links lost again after they were back tell apart.
 */
const errors = {};
let markedAt = 0;
/**
 * Links up, and up again after they dropped since `mark`: counts kept as links change, since
 * `counters` is asked every 20 ms and scanning 5,000 links for it was the load process's own CPU.
 */
const tally = { up: 0, back: 0 };
const isBack = (link) => link.up && link.dropped;

function setLink(link, change) {
  const wasUp = link.up;
  const wasBack = isBack(link);
  Object.assign(link, change);
  tally.up += Number(link.up) - Number(wasUp);
  tally.back += Number(isBack(link)) - Number(wasBack);
}

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
        setLink(link, { up: true });
        resolve();
      });
      socket.on('error', () => {});
      socket.once('close', () => {
        const wasUp = link.up;
        setLink(link, wasUp ? { up: false, dropped: true } : { up: false });
        if (!wasUp) failures++;
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
    setLink(link, { up: true });
    if (link.dropped) link.backAt ??= performance.now() - markedAt;
  });
  executor.on('error', (err) => {
    const reason = `${err.code}: ${err.message.replace(/[0-9][0-9.:]*/g, '#')}`;
    errors[reason] = (errors[reason] ?? 0) + 1;
    if (link.dropped) (link.history ??= []).push(`${(performance.now() - markedAt).toFixed(0)} ${err.code} ${err.message}`);
  });
  executor.on('disconnected', () => {
    if (link.up) setLink(link, { dropped: true });
    if (link.dropped) (link.history ??= []).push(`${(performance.now() - markedAt).toFixed(0)} disconnected`);
    setLink(link, { up: false });
  });
  link.stop = () => executor.stop();
  await executor.start();
  await executor.waitFor('enrolled', 120_000);
  setLink(link, { up: true });
}

serveIpc({
  /** Dial failures and lost links since `mark`, by reason. */
  errors: () => errors,
  /** Handshakes since `mark`; links up; links that dropped since `mark` and are up again. */
  counters: () => ({ ...counters, ...tally }),
  open: async () => {
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < mine.length) {
        const e = mine[next++];
        const link = { up: false, dropped: false, stop: () => {}, backAt: undefined, history: undefined };
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
      // A link still down from the round before has to come back in this one too.
      l.dropped = !l.up;
      l.history = undefined;
      l.backAt = undefined;
    }
    tally.back = 0;
    for (const reason of Object.keys(errors)) delete errors[reason];
    counters.resumed = 0;
    counters.full = 0;
    return true;
  },
  close: async () => {
    await Promise.all(links.map((l) => l.stop()));
    return true;
  },
});
