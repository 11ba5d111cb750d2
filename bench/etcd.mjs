// A real etcd for the benchmarks (Debian's etcd-server), as the roster tests start one: free
// loopback ports (client and peer), a temporary data dir, its own process group so that a kill
// takes all of it. Its write count comes from its own /metrics on the client URL.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Every write etcd accepted goes through raft as one proposal (puts, deletes, write transactions,
 * lease grants and revokes); reads and lease keepalives do not. The mvcc counters say which kind.
 */
const COUNTERS = ['etcd_server_proposals_committed_total', 'etcd_mvcc_put_total', 'etcd_mvcc_delete_total', 'etcd_mvcc_txn_total'];

export async function startEtcd() {
  const dataDir = mkdtempSync(join(tmpdir(), 'ah-bench-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const output = [];
  const child = spawn(
    'etcd',
    [
      ...['--name', 'ah-bench', '--data-dir', dataDir],
      ...['--listen-client-urls', client, '--advertise-client-urls', client],
      ...['--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `ah-bench=${peer}`],
      ...['--log-level', 'error'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  child.stdout.on('data', (b) => output.push(String(b)));
  child.stderr.on('data', (b) => output.push(String(b)));
  const failed = new Promise((_, reject) => child.once('error', (e) => reject(new Error(`etcd did not start (${e.message}); apt-get install etcd-server`))));
  failed.catch(() => {});
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
      await gone;
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  const healthy = async () => {
    try {
      const res = await fetch(`${client}/health`, { signal: AbortSignal.timeout(1_000) });
      return res.ok && (await res.json()).health === 'true';
    } catch {
      return false;
    }
  };
  const until = Date.now() + 30_000;
  while (!(await Promise.race([healthy(), failed]))) {
    if (Date.now() > until || child.exitCode !== null) {
      await stop();
      throw new Error(`etcd did not answer on ${client}: ${output.slice(-5).join('')}`);
    }
    await sleep(100);
  }
  return {
    pid: child.pid,
    rosterUrl: `etcd://127.0.0.1:${clientPort}`,
    /** The write counters from etcd's /metrics: `{ proposals, puts, deletes, txns }`. */
    async counters() {
      const text = await (await fetch(`${client}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
      const value = (name) => {
        const line = text.split('\n').find((l) => l.startsWith(`${name} `));
        if (!line) throw new Error(`etcd's /metrics has no ${name}`);
        return Number(line.split(' ')[1]);
      };
      const [proposals, puts, deletes, txns] = COUNTERS.map(value);
      return { proposals, puts, deletes, txns };
    },
    stop,
  };
}
