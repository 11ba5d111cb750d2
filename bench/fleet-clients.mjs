// A load process of the fleet benchmark: real executors (createExecutor) for a slice of the fleet,
// each given every access point's URL (it tries them in a shuffled order and fails over), and a
// watch on them while the fleet moves: which were ever not linked, and the longest time between
// two answered heartbeats of one executor (a move to another access point counts as answered:
// the new link's welcome).
//   node fleet-clients.mjs URLS FROM TO CONCURRENCY
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExecutor } from '../dist/index.js';
import { serveIpc } from './ipc.mjs';

const [urls, from, to, concurrency] = process.argv.slice(2);
const remoteServer = urls.split(',');
const stateDir = mkdtempSync(join(tmpdir(), 'ah-bench-fleet-ex-'));
const names = [];
for (let i = Number(from); i < Number(to); i++) names.push(`ex-${String(i).padStart(5, '0')}`);
const executors = [];
const counters = { enrolled: 0, failed: 0, disconnects: 0, errors: {} };

const LINKED = new Set(['enrolled', 'renewing', 'relinking']);
let watch = null;

/** One look at every executor: linked or not, and the gap since its last answered heartbeat. */
function look() {
  const now = Date.now();
  for (const { executor, name, last } of executors) {
    const st = executor.status();
    if (!LINKED.has(st.state)) {
      watch.unlinked.add(name);
      continue;
    }
    const ack = st.lastHeartbeat === null ? null : Date.parse(st.lastHeartbeat);
    if (ack === null) continue;
    const previous = last.ack ?? ack;
    watch.worstGapMs = Math.max(watch.worstGapMs, ack - previous, now - ack);
    last.ack = ack;
  }
  watch.samples++;
}

serveIpc({
  counters: () => counters,
  open: async () => {
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const name = names[next++];
        const executor = createExecutor({ name, remoteServer, stateDir, statusSocket: false, backoff: { baseMs: 200, capMs: 2_000 } });
        executor.on('disconnected', () => counters.disconnects++);
        executor.on('error', (e) => (counters.errors[e.code] = (counters.errors[e.code] ?? 0) + 1));
        executors.push({ executor, name, last: { ack: null } });
        try {
          await executor.start();
          await executor.waitFor('enrolled', 300_000);
          counters.enrolled++;
        } catch {
          counters.failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: Number(concurrency) }, worker));
    return { ms: performance.now() - started };
  },
  /** Start looking every `everyMs`; `stopWatch` tells what was seen (and the errors reported meanwhile). */
  startWatch: async ({ everyMs = 200 }) => {
    for (const e of executors) e.last.ack = null;
    watch = { unlinked: new Set(), worstGapMs: 0, samples: 0, disconnects: counters.disconnects, errors: { ...counters.errors }, timer: null };
    watch.timer = setInterval(look, everyMs);
    look();
    return true;
  },
  stopWatch: async () => {
    clearInterval(watch.timer);
    look();
    const errors = Object.fromEntries(
      Object.entries(counters.errors)
        .map(([code, n]) => [code, n - (watch.errors[code] ?? 0)])
        .filter(([, n]) => n > 0),
    );
    const seen = {
      unlinked: [...watch.unlinked],
      worstGapMs: watch.worstGapMs,
      samples: watch.samples,
      disconnects: counters.disconnects - watch.disconnects,
      errors,
    };
    watch = null;
    return seen;
  },
  close: async () => {
    await Promise.all(executors.map(({ executor }) => executor.stop().catch(() => {})));
    rmSync(stateDir, { recursive: true, force: true });
    return true;
  },
});
