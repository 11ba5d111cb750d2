// The server of the rejoin benchmark, killed with SIGKILL and started again on the same port.
// `plain`: node:tls with session resumption the usual way (stateless tickets under ticketKeys that
// the restarted process is given again), verifying client chains against the executor CA.
// `ah`: our access point on the same state dir each time (its sessions live there).
//   node rejoin-server.mjs plain|ah MATERIAL.json PORT STATE_DIR TICKET_KEYS_HEX
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { createAccessPoint } from '../dist/index.js';
import { encodeFrame } from '../dist/transport/frame-codec.js';
import { subjectAltNames } from '../dist/x509/certificate.js';
import { serveIpc } from './ipc.mjs';
import { StaticProvider } from './material.mjs';

const [mode, materialFile, port, stateDir, ticketKeys] = process.argv.slice(2);
const { server: serverPair, executorCaPem } = JSON.parse(readFileSync(materialFile, 'utf8'));

if (mode === 'plain') {
  const counters = { open: 0, full: 0, resumed: 0 };
  const server = tls.createServer({
    cert: serverPair.certPem,
    key: serverPair.keyPem,
    ca: executorCaPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    ALPNProtocols: ['ah-fleet/1'],
    ticketKeys: Buffer.from(ticketKeys, 'hex'),
    sessionTimeout: 86_400,
  });
  server.on('secureConnection', (socket) => {
    counters.open++;
    socket.isSessionReused() ? counters.resumed++ : counters.full++;
    const cert = socket.getPeerX509Certificate();
    if (!cert || subjectAltNames(cert).uris.length !== 1) socket.destroy();
    socket.once('data', () => socket.write(encodeFrame({ type: 'ack', seq: 0 })));
    socket.on('error', () => {});
    socket.on('close', () => counters.open--);
  });
  // The same accept queue as the access point's (transport/fleet-server.ts LISTEN_BACKLOG).
  server.listen({ port: Number(port), host: '127.0.0.1', backlog: 4096 }, () =>
    serveIpc({ counters: () => counters }, { port: server.address().port, pid: process.pid }),
  );
} else {
  const ap = createAccessPoint({
    listen: `127.0.0.1:${port}`,
    stateDir,
    provider: new StaticProvider([serverPair], executorCaPem),
    statusSocket: false,
    // Every load process dials from the same loopback address: measure the engine, not the gate.
    maxHandshakes: Number(process.env.AH_X_MAXHS ?? 65_536),
    ...(process.env.AH_X_QUEUE ? { handshakeQueue: Number(process.env.AH_X_QUEUE) } : {}),
    handshakeRate: 100_000,
  });
  // Links the access point closed or refused while the fleet came back, by reason and code: a link
  // that re-joined and went again (a heartbeat deadline during the reconnects) lengthens the tail.
  const departedBy = {};
  const rejectedBy = {};
  const count = (into, key) => (into[key] = (into[key] ?? 0) + 1);
  ap.on('departed', ({ reason }) => count(departedBy, reason));
  ap.on('rejected', ({ error }) => count(rejectedBy, error.code));
  const bound = await ap.start();
  serveIpc({ counters: () => ({ open: ap.status().executors, ...ap.status().handshakes, departedBy, rejectedBy }) }, { port: bound.port, pid: process.pid });
}
