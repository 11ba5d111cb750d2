/**
 * Scraping a daemon's `--metrics-listen` like Prometheus does, and reading the text format back:
 * `sample('ah_executor_state', { state: 'enrolled' })` is the value of the one series with those
 * labels (null when there is none).
 */
import { createServer } from 'node:net';
import { isEvent, type Daemon } from './cli.js';
import { eventually } from './eventually.js';

export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export class Scrape {
  constructor(
    readonly samples: Sample[],
    readonly text: string,
  ) {}

  /** Every series of `name` whose labels include `labels`. */
  all(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }

  /** The value of the single matching series; null if none; throws if several match. */
  sample(name: string, labels: Record<string, string> = {}): number | null {
    const found = this.all(name, labels);
    if (found.length > 1) throw new Error(`${found.length} series match ${name} ${JSON.stringify(labels)}`);
    return found[0]?.value ?? null;
  }

  /** Sum over the matching series (0 if none). */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.all(name, labels).reduce((a, s) => a + s.value, 0);
  }
}

export function parsePrometheusText(text: string): Scrape {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unreadable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = JSON.parse(`"${l[2]!}"`) as string;
    samples.push({ name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]) });
  }
  return new Scrape(samples, text);
}

export async function scrape(base: string): Promise<Scrape> {
  const res = await fetch(`${base}/metrics`);
  if (res.status !== 200) throw new Error(`${base}/metrics answered ${res.status}`);
  if (!/^text\/plain; version=0\.0\.4/.test(res.headers.get('content-type') ?? ''))
    throw new Error(`unexpected content type ${res.headers.get('content-type')}`);
  return parsePrometheusText(await res.text());
}

/** `/readyz` or `/healthz`: status and body. */
export async function probe(base: string, path: '/readyz' | '/healthz'): Promise<{ status: number; body: string }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: await res.text() };
}

/** Poll until `test` passes on a scrape (bounded; scrapes are cheap). */
export async function scrapeUntil(base: string, test: (s: Scrape) => boolean, what: string, timeoutMs = 20_000): Promise<Scrape> {
  return eventually(() => scrape(base), test, `metrics showing ${what}`, {
    timeoutMs,
    show: (last) =>
      `\n${last.text
        .split('\n')
        .filter((l) => l.startsWith('ah_'))
        .join('\n')}`,
  });
}

/** Poll `/readyz` until it answers `status`. */
export async function readyzUntil(base: string, status: number, timeoutMs = 20_000): Promise<{ status: number; body: string }> {
  return eventually(
    () => probe(base, '/readyz'),
    (last) => last.status === status,
    `/readyz to answer ${status}`,
    {
      timeoutMs,
      show: (last) => `${last.status} ${last.body}`,
    },
  );
}

/** The `http://HOST:PORT` a daemon logged for its metrics listener. */
export async function metricsUrl(daemon: Daemon): Promise<string> {
  const line = await daemon.waitForLine(isEvent('metrics_listening'), 'about its metrics listener');
  return `http://${String(line.address)}`;
}

/** A loopback port nothing listens on (bound and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
