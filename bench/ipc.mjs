// Forked benchmark processes, driven over IPC: `startChild(script, args)` in the parent,
// `serveIpc(handlers)` in the child. `stats` (CPU and memory) and `gc` are always there.
import './run-temp.mjs';
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A flag that must be a positive whole number; anything else ends the bench with one line. */
export function count(name, text) {
  const n = Number(text);
  if (Number.isInteger(n) && n >= 1) return n;
  process.stderr.write(`bench: --${name} must be a positive whole number, not '${text}'\n`);
  process.exit(2);
}
export const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export async function settledMemory() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc?.();
    await sleep(60);
  }
  return process.memoryUsage();
}

export async function startChild(script, args = []) {
  const profile = process.env.AH_BENCH_PROFILE && script.startsWith(process.env.AH_BENCH_PROFILE) ? ['--cpu-prof', '--cpu-prof-dir=/tmp/ah-bench-prof'] : [];
  // AH_BENCH_SERVER_FLAGS='--trace-gc': node flags for the measured server process (server.mjs).
  const serverFlags = script === 'server.mjs' ? (process.env.AH_BENCH_SERVER_FLAGS?.split(' ').filter(Boolean) ?? []) : [];
  // AH_BENCH_CLIENT_FLAGS: the same for the load processes (clients.mjs).
  const clientFlags = script === 'clients.mjs' ? (process.env.AH_BENCH_CLIENT_FLAGS?.split(' ').filter(Boolean) ?? []) : [];
  const child = fork(join(HERE, script), args, {
    execArgv: ['--expose-gc', ...profile, ...serverFlags, ...clientFlags],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let seq = 0;
  const pending = new Map();
  const listeners = [];
  const ready = new Promise((resolve, reject) => {
    child.once('message', (m) => (m?.ready ? resolve(m) : reject(new Error(`bad ready message from ${script}`))));
    child.once('exit', (code) => reject(new Error(`${script} exited early (${code})`)));
  });
  child.on('message', (m) => {
    if (m?.id !== undefined && pending.has(m.id)) {
      const { resolve, reject } = pending.get(m.id);
      pending.delete(m.id);
      m.error ? reject(new Error(m.error)) : resolve(m.result);
    } else if (m?.event) {
      for (const l of listeners) l(m);
    }
  });
  const info = await ready;
  return {
    info,
    pid: child.pid,
    call(cmd, a = {}) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, cmd, args: a });
      });
    },
    onEvent: (f) => listeners.push(f),
    async kill() {
      if (child.exitCode !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([done, sleep(3000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** A CPU profile of just the window between `profileStart` and `profileStop` (written to FILE). */
async function profiler() {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  return {
    start: () => session.post('Profiler.start'),
    stop: async (file) => {
      const { profile } = await session.post('Profiler.stop');
      const { mkdirSync, writeFileSync } = await import('node:fs');
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify(profile));
      return file;
    },
  };
}

export function serveIpc(handlers, readyPayload = {}) {
  let prof = null;
  const all = {
    stats: () => ({ cpuMs: cpuMs(), mem: process.memoryUsage() }),
    gc: async () => ({ mem: await settledMemory() }),
    profileStart: async () => {
      prof ??= await profiler();
      await prof.start();
      return true;
    },
    profileStop: async ({ file }) => prof?.stop(file),
    ...handlers,
  };
  process.on('message', async (m) => {
    try {
      const fn = all[m.cmd];
      if (!fn) throw new Error(`unknown command ${m.cmd}`);
      process.send({ id: m.id, result: await fn(m.args ?? {}) });
    } catch (e) {
      process.send({ id: m.id, error: String(e?.stack ?? e) });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  process.send({ ready: true, pid: process.pid, ...readyPayload });
}
