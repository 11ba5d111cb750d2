/**
 * `--debug-listen HOST:PORT`: the access point's live view over plain HTTP.
 *
 *   GET /                    the page (live-page.ts)
 *   GET /events?q=&page=     server-sent events: the fleet snapshot (counts, histogram, one page of
 *                            the table searched by `q`: fleet-page.ts) when anything changed, at
 *                            most one message a second however many events arrive, and every 5 s
 *                            anyway (ages, late and expired entries move on without events)
 *   GET /api/fleet?q=&page=  the same snapshot, once
 *   GET /api/executor?id=ID  {html, version}: one executor drawn (actor-section.ts)
 *
 * It shows names, addresses and SPIFFE IDs of the fleet, never key material, but that is still
 * more than the fleet port tells anyone; like the admin ports of Envoy or a Go pprof endpoint it is
 * meant for loopback (the CLI refuses other addresses unless --debug-allow-remote). On loopback the
 * Host header must name loopback too, so a web page the operator happens to visit cannot read it
 * through DNS rebinding.
 *
 * Event streams are capped (`maxStreams`, 32: more get 503) and a reader that does not keep up is
 * dropped once more than `maxBufferedBytes` wait for it, so that neither many streams nor slow ones
 * can make the access point hold an unbounded amount of memory.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../../log/logger.js';
import { formatHostPort, type HostPort } from '../../util/address.js';
import { actorSection, escapeHtml } from '../actor-section.js';
import { fleetQueryFrom, type FleetQuery, queryKey } from './fleet-page.js';
import type { FleetView } from './fleet-view.js';
import { isLoopbackHost } from './loopback.js';
import { livePage } from './live-page.js';

/** A stream gets at most one message in this time: a burst of events is one message. */
export const BATCH_MS = 1_000;
/** Sent this often even without events. */
const REFRESH_MS = 5_000;
const KEEPALIVE_MS = 15_000;
export const MAX_EVENT_STREAMS = 32;
/** Bytes written to a stream but not yet taken by its reader, beyond which the stream is ended. */
export const MAX_BUFFERED_BYTES = 1 << 20;

export interface DebugServerOptions {
  readonly listen: HostPort;
  readonly view: FleetView;
  /** Accept any Host header (the operator allowed a non-loopback address). */
  readonly anyHost?: boolean;
  readonly title?: string;
  /** Event streams open at once at most (default 32). */
  readonly maxStreams?: number;
  /** Bytes a stream may have waiting for its reader before it is dropped (default 1 MiB). */
  readonly maxBufferedBytes?: number;
  /** Where dropped slow readers are told of (event `debug_stream_dropped`). */
  readonly log?: Logger;
}

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** One open event stream: what its reader asked for, and what it has been sent. */
interface EventStream {
  readonly res: ServerResponse;
  readonly query: FleetQuery;
  /** `performance.now()` of the last message. */
  sentAt: number;
  /** The change count the last message covered. */
  seen: number;
}

export class DebugServer {
  private readonly server: Server;
  private readonly streams = new Set<EventStream>();
  private pending: NodeJS.Timeout | null = null;
  /** Counts changes (and refreshes); a stream is behind while its `seen` is lower. */
  private changes = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly drawings = new Map<string, { version: number; html: string }>();
  private bound: HostPort | null = null;

  constructor(private readonly options: DebugServerOptions) {
    this.server = createServer((req, res) => void this.handle(req, res));
    options.view.on('changed', () => this.changed());
    options.view.on('touched', () => this.changed());
  }

  get address(): HostPort {
    if (!this.bound) throw new Error('debug view not listening');
    return this.bound;
  }

  get url(): string {
    return `http://${formatHostPort(this.address)}/`;
  }

  listen(): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listen.port, this.options.listen.host, () => {
        this.server.off('error', reject);
        const a = this.server.address() as { address: string; port: number };
        this.bound = { host: this.options.listen.host, port: a.port };
        const refresh = setInterval(() => this.changed(), REFRESH_MS);
        const keepalive = setInterval(() => this.streams.forEach((s) => this.write(s, ':\n\n')), KEEPALIVE_MS);
        refresh.unref();
        keepalive.unref();
        this.timers.push(refresh, keepalive);
        resolve(this.bound);
      });
    });
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    if (this.pending) clearTimeout(this.pending);
    for (const s of this.streams) s.res.end();
    this.streams.clear();
    this.options.view.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections?.();
  }

  private changed(): void {
    this.changes++;
    this.arm();
  }

  /** One timer, for the moment the stream sent to longest ago may have its next message. */
  private arm(): void {
    if (this.pending || this.streams.size === 0) return;
    let oldest = Number.POSITIVE_INFINITY;
    for (const s of this.streams) if (s.seen < this.changes) oldest = Math.min(oldest, s.sentAt);
    if (oldest === Number.POSITIVE_INFINITY) return;
    this.pending = setTimeout(
      () => {
        this.pending = null;
        this.flush();
      },
      Math.max(0, oldest + BATCH_MS - performance.now()),
    );
  }

  /** Each stream that is behind and has waited its second gets one snapshot, computed once per query. */
  private flush(): void {
    const now = performance.now();
    const snapshots = new Map<string, string>();
    for (const s of this.streams) {
      if (s.seen >= this.changes || now - s.sentAt < BATCH_MS) continue;
      const key = queryKey(s.query);
      let data = snapshots.get(key);
      if (data === undefined) snapshots.set(key, (data = `data: ${JSON.stringify(this.options.view.snapshot(s.query))}\n\n`));
      this.send(s, data);
    }
    this.arm();
  }

  private send(s: EventStream, data: string): void {
    s.sentAt = performance.now();
    s.seen = this.changes;
    this.write(s, data);
  }

  /**
   * Write to one stream, unless its reader has left more than the bound unread (the socket's
   * buffers are full and `write` has been returning false): then end it; a live page reconnects.
   */
  private write(stream: EventStream, data: string): void {
    const { res } = stream;
    const limit = this.options.maxBufferedBytes ?? MAX_BUFFERED_BYTES;
    if (res.writableLength > limit) {
      this.streams.delete(stream);
      this.options.log?.warn(
        { event: 'debug_stream_dropped', remoteAddress: res.socket?.remoteAddress ?? null, bufferedBytes: res.writableLength, limit },
        `debug view: dropped an event stream whose reader left ${res.writableLength} bytes unread (more than ${limit})`,
      );
      // Ending would wait for the unread bytes; the reader is not taking them.
      res.destroy();
      return;
    }
    res.write(data);
  }

  private hostAllowed(req: IncomingMessage): boolean {
    if (this.options.anyHost) return true;
    const host = req.headers.host ?? '';
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
    return isLoopbackHost(name);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type, ...SECURITY_HEADERS });
      res.end(body);
    };
    try {
      if (!this.hostAllowed(req)) return send(403, 'text/plain; charset=utf-8', 'forbidden: the debug view answers only to a loopback Host\n');
      if (req.method !== 'GET') return send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
      const url = new URL(req.url ?? '/', 'http://localhost');
      switch (url.pathname) {
        case '/':
          return send(200, 'text/html; charset=utf-8', livePage(this.options.title ?? `ah access point ${formatHostPort(this.address)}: live view`));
        case '/api/fleet':
          return send(200, 'application/json', JSON.stringify(this.options.view.snapshot(fleetQueryFrom(url.searchParams))));
        case '/api/executor': {
          const id = url.searchParams.get('id') ?? '';
          const found = this.options.view.executorView(id);
          if (!found) return send(404, 'application/json', JSON.stringify({ error: `no executor ${id}` }));
          return send(200, 'application/json', JSON.stringify({ version: found.version, html: await this.drawing(id, found) }));
        }
        case '/events': {
          if (this.streams.size >= (this.options.maxStreams ?? MAX_EVENT_STREAMS)) {
            return send(
              503,
              'text/plain; charset=utf-8',
              `too many event streams: ${this.streams.size} are open (at most ${this.options.maxStreams ?? MAX_EVENT_STREAMS})\n`,
            );
          }
          const stream: EventStream = { res, query: fleetQueryFrom(url.searchParams), sentAt: 0, seen: 0 };
          res.writeHead(200, { 'Content-Type': 'text/event-stream', Connection: 'keep-alive', ...SECURITY_HEADERS });
          this.streams.add(stream);
          req.on('close', () => this.streams.delete(stream));
          this.send(stream, `retry: 1000\ndata: ${JSON.stringify(this.options.view.snapshot(stream.query))}\n\n`);
          return;
        }
        default:
          return send(404, 'text/plain; charset=utf-8', 'not found\n');
      }
    } catch (err) {
      if (!res.headersSent) send(500, 'text/plain; charset=utf-8', `internal error: ${(err as Error).message}\n`);
      else res.end();
    }
  }

  /** Drawn again only when the executor changed (Graphviz takes some milliseconds). */
  private async drawing(id: string, found: NonNullable<ReturnType<FleetView['executorView']>>): Promise<string> {
    const cached = this.drawings.get(id);
    if (cached && cached.version === found.version && found.view.done) return cached.html;
    const earlier = found.earlier.length
      ? `<h3>Earlier links</h3><ul class="earlier">${found.earlier
          .map((l) => `<li>${escapeHtml(l.linkId)}: ${escapeHtml(l.path)}${l.rejection ? ` — rejected: ${escapeHtml(l.rejection.code)}` : ''}</li>`)
          .join('')}</ul>`
      : '';
    const html = (await actorSection(found.view)) + earlier;
    this.drawings.set(id, { version: found.version, html });
    if (this.drawings.size > 200) this.drawings.delete(this.drawings.keys().next().value!);
    return html;
  }
}
