// The measured server process. `plain`: the limit, a node:tls server doing what any mTLS server
// must (TLS 1.3 handshake that verifies the client's chain against the executor CA, read the
// peer's URI SAN, answer one message).
// `ah`: our access point, with the same certificate and the same loopback port rules.
//   node server.mjs plain|ah MATERIAL.json HEARTBEAT_MS
import 'reflect-metadata';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import tls from 'node:tls';
import { createAccessPoint } from '../dist/index.js';
import { subjectAltNames } from '../dist/x509/certificate.js';
import { encodeFrame } from '../dist/transport/frame-codec.js';
import { serveIpc } from './ipc.mjs';
import { StaticProvider } from './material.mjs';

const [mode, materialFile, heartbeatMs] = process.argv.slice(2);
const { server: serverPair, executorCaPem } = JSON.parse(readFileSync(materialFile, 'utf8'));

if (mode === 'plain') {
  const counters = { open: 0, identities: 0 };
  const server = tls.createServer({
    cert: serverPair.certPem,
    key: serverPair.keyPem,
    ca: executorCaPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    ALPNProtocols: ['ah-fleet/1'],
  });
  server.on('secureConnection', (socket) => {
    counters.open++;
    const cert = socket.getPeerX509Certificate();
    if (cert && subjectAltNames(cert).uris.length === 1) counters.identities++;
    socket.once('data', () => socket.write(encodeFrame({ type: 'ack', seq: 0 })));
    socket.on('error', () => {});
    socket.on('close', () => counters.open--);
  });
  // The same accept queue as the access point's (transport/fleet-server.ts LISTEN_BACKLOG).
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => serveIpc({ counters: () => counters }, { port: server.address().port }));
} else {
  const ap = createAccessPoint({
    listen: '127.0.0.1:0',
    stateDir: mkdtempSync(join(tmpdir(), 'ah-bench-ap-')),
    provider: new StaticProvider([serverPair], executorCaPem),
    heartbeatIntervalMs: Number(heartbeatMs),
    statusSocket: false,
    // Every load process dials from the same loopback address: the per-source rate is lifted. The
    // handshake concurrency stays at its default (256), with a queue that holds a CA-wide push of
    // the whole fleet, so a rotation storm waits its turn while the links already up are served.
    handshakeRate: 100_000,
    handshakeQueue: 32_768,
  });
  const counters = { joined: 0, relinked: 0, departed: 0, rejected: 0, heartbeats: 0, departedBy: {} };
  let gapWindow = null; // { since, lastBeat: Map, lastSent: Map, maxGap, maxSentGap, maxAddedOnTheWay }
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  ap.on('admitted', (e) => (e.relinked ? counters.relinked++ : counters.joined++));
  ap.on('departed', ({ reason }) => {
    counters.departed++;
    counters.departedBy[reason] = (counters.departedBy[reason] ?? 0) + 1;
  });
  ap.on('rejected', () => counters.rejected++);
  ap.on('heartbeat', ({ id, at, sentAt }) => {
    counters.heartbeats++;
    if (!gapWindow) return;
    const last = gapWindow.lastBeat.get(id);
    const lastSent = gapWindow.lastSent.get(id);
    if (last !== undefined) gapWindow.maxGap = Math.max(gapWindow.maxGap, at - last);
    // The same gap as the executor made it (its own clock, this host's): a heartbeat sent late
    // from a busy load process opens a gap before it reaches the access point.
    if (lastSent !== undefined && sentAt !== undefined) {
      gapWindow.maxSentGap = Math.max(gapWindow.maxSentGap, sentAt - lastSent);
      gapWindow.maxAddedOnTheWay = Math.max(gapWindow.maxAddedOnTheWay, at - last - (sentAt - lastSent));
    }
    gapWindow.lastBeat.set(id, at);
    if (sentAt !== undefined) gapWindow.lastSent.set(id, sentAt);
  });
  const { port } = await ap.start();
  serveIpc(
    {
      counters: () => {
        const status = ap.status();
        return { ...counters, links: status.links, executors: status.executors, handshakes: status.handshakes };
      },
      watchGaps: () => {
        gapWindow = { since: Date.now(), lastBeat: new Map(), lastSent: new Map(), maxGap: 0, maxSentGap: 0, maxAddedOnTheWay: 0 };
        return true;
      },
      /** Start a new worst gap, keeping every executor's last beat. */
      restartGapMax: () => {
        gapWindow.maxGap = 0;
        gapWindow.maxSentGap = 0;
        gapWindow.maxAddedOnTheWay = 0;
        // How long the access point's own event loop stalls from here on: a heartbeat that
        // arrives late while this stays small was late before it reached the access point.
        loopDelay.reset();
        loopDelay.enable();
        return true;
      },
      gaps: () => {
        // An executor whose last heartbeat is older than the window's end counts with that age.
        const now = Date.now();
        let open = 0;
        for (const t of gapWindow.lastBeat.values()) open = Math.max(open, now - t);
        loopDelay.disable();
        return {
          maxGap: gapWindow.maxGap,
          maxSentGap: gapWindow.maxSentGap,
          maxAddedOnTheWay: gapWindow.maxAddedOnTheWay,
          oldestOpen: open,
          tracked: gapWindow.lastBeat.size,
          loopDelayMaxMs: loopDelay.max / 1e6,
          loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
        };
      },
    },
    { port },
  );
}
