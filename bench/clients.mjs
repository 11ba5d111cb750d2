// A load process: opens links for a slice of the executors.
// `plain`: a TLS 1.3 client with the executor's certificate, one message, then the link stays idle.
// `ah`: a real executor (createExecutor) per certificate, enrolling and heartbeating.
//   node clients.mjs plain|ah MATERIAL.json PORT FROM TO CONCURRENCY
import 'reflect-metadata';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import tls from 'node:tls';
import { createExecutor } from '../dist/index.js';
import { encodeFrame } from '../dist/transport/frame-codec.js';
import { serveIpc } from './ipc.mjs';
import { StaticProvider } from './material.mjs';

const [mode, materialFile, port, from, to, concurrency] = process.argv.slice(2);
const { executors, server } = JSON.parse(readFileSync(materialFile, 'utf8'));
const mine = executors.slice(Number(from), Number(to));
const stateDir = mkdtempSync(join(tmpdir(), 'ah-bench-ex-'));
const sockets = [];
const running = [];
const counters = { open: 0, failed: 0, rotations: 0, disconnects: 0, errors: 0 };
let next = 0;
/** This process's own event-loop delay from the storm on: how late its simulated executors' timers fire. */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });

function openPlain(e) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: Number(port),
      cert: e.first.certPem,
      key: e.first.keyPem,
      // The executor verifies the access point, as ours does (its certificate is its own anchor).
      ca: server.certPem,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['ah-fleet/1'],
    });
    socket.once('secureConnect', () => socket.write(encodeFrame({ type: 'hello', name: e.name, version: 'bench', labels: {} })));
    socket.once('data', () => {
      sockets.push(socket);
      counters.open++;
      resolve();
    });
    socket.once('error', reject);
  });
}

async function openAh(e) {
  const provider = new StaticProvider([e.first, e.second], server.certPem);
  const executor = createExecutor({
    name: e.name,
    remoteServer: `https://127.0.0.1:${port}`,
    stateDir,
    provider,
    statusSocket: false,
  });
  executor.on('rotated', () => counters.rotations++);
  executor.on('disconnected', () => counters.disconnects++);
  await executor.start();
  await executor.waitFor('enrolled', 120_000);
  running.push({ executor, provider });
  counters.open++;
}

serveIpc({
  counters: () => ({ ...counters, loopDelayMaxMs: loopDelay.max / 1e6 }),
  /**
   * Open links up to `fraction` of this slice (all by default), at most CONCURRENCY handshakes at
   * a time; resolves with the elapsed ms.
   */
  open: async ({ fraction = 1 }) => {
    const started = performance.now();
    const until = Math.round(mine.length * fraction);
    const worker = async () => {
      while (next < until) {
        const e = mine[next++];
        try {
          await (mode === 'plain' ? openPlain(e) : openAh(e));
        } catch {
          counters.failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: Number(concurrency) }, worker));
    return { ms: performance.now() - started };
  },
  /**
   * Every executor gets new material at once: a rotation storm. A real executor has a machine of
   * its own; here thousands share one process, which can do only so many TLS handshakes, proof
   * signatures and material checks at once before its event loop stops sending every simulated
   * executor's heartbeats (seconds at 2,500, and the access point rightly drops those links: a
   * limit of this process, not of the access point). So at most `window` executors of this process
   * rotate at a time, each push in a turn of its own, and the access point sees up to
   * window × load processes new handshakes at once: 64 by default, under its --max-handshakes
   * (256), since a load process's CPU, not the access point, paces the storm (bench/run.mjs
   * --storm-window says why); with a window above 128 its queue holds the rest.
   * Returns at once; `counters` tells the rotations.
   */
  storm: async ({ window = Number.POSITIVE_INFINITY } = {}) => {
    loopDelay.reset();
    loopDelay.enable();
    const push = async () => {
      let inFlight = 0;
      const waiting = [];
      for (const { executor, provider } of running) {
        while (inFlight >= window) await new Promise((resolve) => waiting.push(resolve));
        inFlight++;
        let settled = false;
        const done = () => {
          if (settled) return;
          settled = true;
          executor.off('rotated', done);
          executor.off('disconnected', done);
          inFlight--;
          waiting.shift()?.();
        };
        executor.on('rotated', done);
        executor.on('disconnected', done);
        void provider.push();
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    void push();
    return running.length;
  },
  close: async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(running.map(({ executor }) => executor.stop()));
    return true;
  },
});
