// The executor's side against plain node:tls, side by side in one run (issue 14, item 6):
//
// - client CPU per enrollment: one load process opens N links, either N plain tls.connect clients
//   (verify the access point's chain, send hello, read the welcome) or N executors made with
//   createExecutor (the same certificates, the same CA check), against the same plain mTLS server
//   that verifies every client chain; the load process's CPU over the N, after a warm-up.
// - RSS of one enrolled `ah agent enroll` process (files identity, a test CA) against a plain
//   `node` process holding one mTLS link with the same certificates, both read from
//   /proc/PID/status after they have been idle for a while.
//
//   node bench/executor.mjs [--n 200] [--concurrency 8] [--settle 3000] [--json]
//
// Internal roles (the script forks itself): --role server|plain|ah|hold MATERIAL [PORT].
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    n: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '8' },
    settle: { type: 'string', default: '3000' },
    json: { type: 'boolean', default: false },
    role: { type: 'string' },
  },
});
const log = (s) => process.stderr.write(`${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A frame as the fleet link writes it (transport/frame-codec.ts), written out here so that the
// plain side loads nothing of ah.
function frame(message) {
  const json = Buffer.from(JSON.stringify(message), 'utf8');
  const out = Buffer.alloc(5 + json.length);
  out.writeUInt32BE(json.length + 1, 0);
  out.writeUInt8(1, 4);
  json.copy(out, 5);
  return out;
}

/** Frames out of a byte stream: calls `onMessage` for each whole one. */
function reader(onMessage) {
  let buffered = Buffer.alloc(0);
  return (chunk) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    while (buffered.length >= 4) {
      const length = buffered.readUInt32BE(0);
      if (buffered.length < 4 + length) break;
      onMessage(JSON.parse(buffered.subarray(5, 4 + length).toString('utf8')));
      buffered = buffered.subarray(4 + length);
    }
  };
}

const plainDial = (e, server, port) =>
  new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      cert: e.first.certPem,
      key: e.first.keyPem,
      ca: server.certPem,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['ah-fleet/1'],
    });
    socket.once('secureConnect', () => socket.write(frame({ type: 'hello', name: e.name, version: 'bench', labels: {} })));
    socket.once('data', () => resolve(socket));
    socket.once('error', reject);
  });

/** The access point for both sides: plain node:tls verifying client chains, answering hello with welcome. */
async function serverRole(materialFile) {
  const { serveIpc } = await import('./ipc.mjs');
  const { server: pair, executorCaPem } = JSON.parse(readFileSync(materialFile, 'utf8'));
  const counters = { welcomed: 0, names: {} };
  const server = tls.createServer({
    cert: pair.certPem,
    key: pair.keyPem,
    ca: executorCaPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    ALPNProtocols: ['ah-fleet/1'],
  });
  server.on('secureConnection', (socket) => {
    const uri = socket.getPeerX509Certificate()?.subjectAltName ?? '';
    socket.on('error', () => {});
    socket.on(
      'data',
      reader((m) => {
        if (m.type === 'hello') {
          counters.welcomed++;
          counters.names[m.name] = uri;
          socket.write(frame({ type: 'welcome', executorId: `ex-${counters.welcomed}`, heartbeatInterval: 60_000, serverTime: Date.now() }));
        } else if (m.type === 'heartbeat') socket.write(frame({ type: 'ack', seq: m.seq }));
      }),
    );
  });
  server.listen(0, '127.0.0.1', () =>
    serveIpc({ counters: () => ({ welcomed: counters.welcomed }), welcomedAs: ({ name }) => name in counters.names }, { port: server.address().port }),
  );
}

/** A load process: opens links for executors [from, to) and reports its own CPU for them. */
async function loadRole(mode, materialFile, port) {
  const { cpuMs, serveIpc } = await import('./ipc.mjs');
  const { executors, server } = JSON.parse(readFileSync(materialFile, 'utf8'));
  const stateDir = mkdtempSync(join(tmpdir(), 'ah-bench-exec-'));
  let createExecutor;
  let StaticProvider;
  if (mode === 'ah') {
    ({ createExecutor } = await import('../dist/index.js'));
    ({ StaticProvider } = await import('./material.mjs'));
  }
  const held = [];
  const open = async (e) => {
    if (mode === 'plain') return held.push(await plainDial(e, server, Number(port)));
    const executor = createExecutor({
      name: e.name,
      remoteServer: `https://127.0.0.1:${port}`,
      stateDir,
      provider: new StaticProvider([e.first], server.certPem),
      statusSocket: false,
    });
    await executor.start();
    await executor.waitFor('enrolled', 120_000);
    held.push(executor);
  };
  serveIpc({
    open: async ({ from, to, concurrency }) => {
      let next = from;
      const cpu0 = cpuMs();
      const worker = async () => {
        while (next < to) await open(executors[next++]);
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      return { cpuMs: cpuMs() - cpu0 };
    },
    close: async () => {
      await Promise.all(held.map((h) => (mode === 'plain' ? h.destroy() : h.stop())));
      rmSync(stateDir, { recursive: true, force: true });
      return true;
    },
  });
}

/** A plain node process holding one link, for the RSS comparison (no IPC channel, like the CLI). */
async function holdRole(materialFile, port) {
  const { executors, server } = JSON.parse(readFileSync(materialFile, 'utf8'));
  await plainDial(executors[0], server, Number(port));
  process.stdout.write('enrolled\n');
  setInterval(() => {}, 60_000);
}

function vmRssKb(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]);
}

/** Start a process, wait until `ready(server counters)` says it holds its link, let it idle, read its RSS. */
async function rssOf(command, args, serverChild, name, settleMs) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  try {
    const deadline = Date.now() + 60_000;
    while (!(await serverChild.call('welcomedAs', { name }))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${command} ${args.join(' ')} never enrolled: ${stderr}`);
      await sleep(50);
    }
    await sleep(settleMs);
    return vmRssKb(child.pid);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  }
}

async function main() {
  const { generateMaterial } = await import('./material.mjs');
  const { startChild } = await import('./ipc.mjs');
  const N = Number(values.n);
  const CONCURRENCY = Number(values.concurrency);
  const SETTLE = Number(values.settle);
  const WARM = Math.min(50, Math.ceil(N / 10));
  log(`# executor bench: N=${N} enrollments (after ${WARM} to warm up), ${CONCURRENCY} in flight; RSS after ${SETTLE} ms idle`);
  log(
    `# node ${process.version}, ${cpus().length} cpu, load ${loadavg()
      .map((x) => x.toFixed(2))
      .join('/')}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'ah-bench-exec-'));
  const t0 = Date.now();
  // Executors 0..WARM+N for the CPU figure; one more, last, for the two RSS processes.
  const material = await generateMaterial({ n: WARM + N + 2, notBefore: t0 - 60_000, firstLifetimeMs: 3_600_000, secondLifetimeMs: 7_200_000 });
  const materialFile = join(dir, 'material.json');
  writeFileSync(materialFile, JSON.stringify(material));
  log(`# certificates generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const server = await startChild('executor.mjs', ['--role', 'server', materialFile]);
  const port = String(server.info.port);
  const cpu = {};
  try {
    for (const mode of ['plain', 'ah']) {
      const load = await startChild('executor.mjs', ['--role', mode, materialFile, port]);
      await load.call('open', { from: 0, to: WARM, concurrency: CONCURRENCY });
      const { cpuMs } = await load.call('open', { from: WARM, to: WARM + N, concurrency: CONCURRENCY });
      cpu[mode] = cpuMs / N;
      log(`# ${mode}: ${cpu[mode].toFixed(2)} client CPU ms per enrollment`);
      await load.call('close');
      await load.kill();
    }

    // The RSS pair: the same executor certificate, the access point's certificate as the CA.
    const e = material.executors[WARM + N];
    const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), ca: join(dir, 'ca.pem') };
    writeFileSync(files.cert, e.first.certPem);
    writeFileSync(files.key, e.first.keyPem, { mode: 0o600 });
    writeFileSync(files.ca, material.server.certPem);
    const enrollArgs = [
      ...[join(HERE, '..', 'bin', 'ah'), 'agent', 'enroll', '--remote-server', `https://127.0.0.1:${port}`, '--name', e.name],
      ...['--state-dir', join(dir, 'state'), '--cert', files.cert, '--key', files.key, '--ca', files.ca, '--log-level', 'warn'],
    ];
    const rssAh = await rssOf(process.execPath, enrollArgs, server, e.name, SETTLE);
    // The hold process dials as executor 0 of the material file: give it the same certificate.
    const holdMaterial = join(dir, 'hold.json');
    writeFileSync(holdMaterial, JSON.stringify({ server: material.server, executors: [{ ...e, name: `${e.name}-plain` }] }));
    const rssPlain = await rssOf(process.execPath, [join(HERE, 'executor.mjs'), '--role', 'hold', holdMaterial, port], server, `${e.name}-plain`, SETTLE);
    log(`# RSS: plain ${rssPlain} KB, ah agent enroll ${rssAh} KB`);

    const rows = [
      { figure: 'client CPU per enrollment', plain: cpu.plain, ah: cpu.ah, ratio: cpu.ah / cpu.plain, goal: '≤ 2×', unit: 'ms' },
      { figure: 'RSS of a process holding one link', plain: rssPlain / 1024, ah: rssAh / 1024, ratio: rssAh / rssPlain, goal: '≤ 1.5×', unit: 'MB' },
    ];
    if (values.json) process.stdout.write(`${JSON.stringify({ n: N, concurrency: CONCURRENCY, settleMs: SETTLE, node: process.version, rows })}\n`);
    else {
      process.stdout.write('| figure | plain | ah | ratio | goal |\n|---|---|---|---|---|\n');
      for (const r of rows)
        process.stdout.write(`| ${r.figure} | ${r.plain.toFixed(2)} ${r.unit} | ${r.ah.toFixed(2)} ${r.unit} | ${r.ratio.toFixed(2)}× | ${r.goal} |\n`);
    }
  } finally {
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const [materialArg, portArg] = positionals;
if (values.role === 'server') await serverRole(materialArg);
else if (values.role === 'plain' || values.role === 'ah') await loadRole(values.role, materialArg, portArg);
else if (values.role === 'hold') await holdRole(materialArg, portArg);
else await main();
