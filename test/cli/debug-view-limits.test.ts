/**
 * The live view's event streams are capped (`--debug-listen`, the CLI as a child process, plain
 * node:http clients, no browser): 32 open streams are served, the 33rd is answered 503 and a place
 * freed by a closing stream is taken again.
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { startAh, stopAll, tempStateDir, type LogLine } from '../helpers/cli.js';

afterAll(stopAll);

interface Stream {
  readonly req: ClientRequest;
  readonly res: IncomingMessage;
  readonly body: () => string;
  /** Resolves when the server has ended the response. */
  readonly ended: Promise<void>;
}

/** GET /events; resolves once the status line and headers are in. */
function openEvents(url: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}events`, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      const ended = new Promise<void>((done) => res.on('end', () => done()));
      resolve({ req, res, body: () => text, ended });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The debug view's line, told apart by its fields. */
const isDebugView = (l: LogLine) => typeof l.url === 'string' && typeof l.address === 'string';

describe('--debug-listen event streams', () => {
  it('serves 32 at once, answers 503 to the 33rd, and takes a new one once one closes', async () => {
    const daemon = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--state-dir', tempStateDir(), '--debug-listen', '127.0.0.1:0']);
    const url = String((await daemon.waitForLine(isDebugView, 'the debug view')).url);
    const streams: Stream[] = [];
    for (let i = 0; i < 32; i++) streams.push(await openEvents(url));
    expect(streams.map((s) => s.res.statusCode)).toEqual(Array(32).fill(200));
    expect(streams.map((s) => s.res.headers['content-type'])).toEqual(Array(32).fill('text/event-stream'));

    const refused = await openEvents(url);
    expect(refused.res.statusCode).toBe(503);
    await refused.ended;
    expect(refused.body()).toBe('too many event streams: 32 are open (at most 32)\n');

    // One reader leaves: its place is free again.
    const gone = new Promise((resolve) => streams[0]!.res.on('close', resolve));
    streams[0]!.req.destroy();
    await gone;
    let again = await openEvents(url);
    // The server sees the close a moment after the client: wait (bounded) for it.
    for (let i = 0; again.res.statusCode === 503 && i < 50; i++) {
      again.req.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
      again = await openEvents(url);
    }
    expect(again.res.statusCode).toBe(200);
    for (const s of [...streams, again]) s.req.destroy();
    expect(await daemon.stop()).toBe(0);
  });
});
