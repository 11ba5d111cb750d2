/**
 * A daemon's status, served on a unix socket in the state dir: the client writes one JSON line
 * (`{"cmd":"status"}`), the daemon answers with one JSON line and closes. A large answer (the
 * fleet of an access point, with `"stream":true`) is written as JSON lines instead, a chunk at a
 * time as the socket takes them, so that neither side holds it as one string. A socket file left
 * by a killed daemon is detected (nothing answers on it) and replaced.
 */
import { chmod, mkdir, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { AhError } from '../errors/ah-error.js';

/** The request line, whole: `cmd` and whatever else the command takes (e.g. a filter). */
export type StatusRequest = Readonly<Record<string, unknown>>;

export type StatusHandler = (command: string, request: StatusRequest) => unknown;

/** An answer written as one JSON line per item, in order, with the socket's backpressure. */
export class LineStream {
  constructor(readonly lines: Iterable<unknown>) {}
}

/** Bytes gathered before a write: large enough to be cheap, small enough to stay bounded. */
const STREAM_CHUNK = 64 * 1024;

/** Longest unix socket path Linux takes (sun_path is 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;

function somethingListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

export class StatusServer {
  private server: Server | null = null;

  constructor(
    readonly path: string,
    private readonly handler: StatusHandler,
    private readonly owner: { role: string; name: string },
  ) {}

  async listen(): Promise<void> {
    if (Buffer.byteLength(this.path) > MAX_SOCKET_PATH) {
      throw new AhError('ENROLL_STATE_DIR_UNUSABLE', {
        path: dirname(this.path),
        detail: `status socket path is longer than ${MAX_SOCKET_PATH} bytes; use a shorter --state-dir`,
      });
    }
    try {
      // Only this user (and root) may reach the sockets, whatever the umask: the directory is
      // 0700 (also one made 0755 by an older version) and each socket 0600.
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      await chmod(dirname(this.path), 0o700);
    } catch (err) {
      throw new AhError('ENROLL_STATE_DIR_UNUSABLE', { path: dirname(this.path), detail: (err as Error).message });
    }
    if (await somethingListens(this.path)) {
      throw new AhError('ENROLL_ALREADY_RUNNING', { role: this.owner.role, name: this.owner.name, socket: this.path });
    }
    await unlink(this.path).catch(() => {});
    const server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(this.path, 0o600).catch(() => {});
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await unlink(this.path).catch(() => {});
  }

  private serve(socket: Socket): void {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5_000, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > 4096) return socket.destroy();
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      let request: StatusRequest;
      try {
        const parsed: unknown = JSON.parse(buffered.slice(0, nl));
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TypeError('not an object');
        request = parsed as StatusRequest;
      } catch {
        socket.end(`${JSON.stringify({ error: 'bad request' })}\n`);
        return;
      }
      socket.removeAllListeners('data');
      let answer: unknown;
      try {
        answer = this.handler(String(request.cmd ?? 'status'), request);
      } catch (err) {
        answer = { error: (err as Error).message };
      }
      if (answer instanceof LineStream) void writeLines(socket, answer.lines);
      else socket.end(`${JSON.stringify(answer)}\n`);
    });
  }
}

/** Write each item as a JSON line, waiting for the socket to drain; a failure is the last line. */
async function writeLines(socket: Socket, lines: Iterable<unknown>): Promise<void> {
  let chunk = '';
  try {
    for (const line of lines) {
      chunk += `${JSON.stringify(line)}\n`;
      if (chunk.length < STREAM_CHUNK) continue;
      const flushed = socket.write(chunk);
      chunk = '';
      if (!flushed) await drained(socket);
      if (socket.destroyed) return;
    }
  } catch (err) {
    chunk += `${JSON.stringify({ error: (err as Error).message })}\n`;
  }
  if (!socket.destroyed) socket.end(chunk);
}

/** Resolves when the socket takes more, or is gone (a reader that left, or the idle timeout). */
function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** Why a status socket gave no answer, said with what to do about it. */
function unreachable(socket: string, detail: string): AhError {
  return new AhError('ENROLL_STATUS_SOCKET_UNREACHABLE', { socket, detail });
}

function errorDetail(err: NodeJS.ErrnoException, socket: string, role: string): string {
  switch (err.code) {
    case 'EACCES':
    case 'EPERM':
      return `permission denied (run as the user that runs the ${role}, or root)`;
    case 'ENOTDIR':
      return `a part of the path is not a directory (ls -la ${dirname(socket)})`;
    case 'EPIPE':
    case 'ECONNRESET':
      return closedWithoutAnswer(socket);
    default:
      return `${err.code ?? err.message} (ls -la ${socket})`;
  }
}

const closedWithoutAnswer = (socket: string) =>
  `the process on it closed the connection without answering (not an ah daemon, or a stuck one: ss -xlp | grep ${socket}; restart it)`;

/**
 * Ask a daemon; null when no daemon answers on that path (no socket, or one left by a killed
 * daemon). Anything else rejects with ENROLL_STATUS_SOCKET_UNREACHABLE naming the cause.
 */
export function queryStatus(path: string, command = 'status', timeoutMs = 5_000, role = 'daemon'): Promise<unknown | null> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffered = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(unreachable(path, `no answer within ${timeoutMs / 1000}s (a stuck ${role}: restart it)`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify({ cmd: command })}\n`));
    socket.on('data', (chunk: string) => (buffered += chunk));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(null);
      else reject(unreachable(path, errorDetail(err, path, role)));
    });
    socket.once('end', () => {
      clearTimeout(timer);
      if (buffered.trim() === '') return reject(unreachable(path, closedWithoutAnswer(path)));
      try {
        resolve(JSON.parse(buffered));
      } catch {
        reject(unreachable(path, `its answer is not an ah status (ss -xlp | grep ${path})`));
      }
    });
  });
}

/**
 * Ask a daemon for an answer in JSON lines: `onLine` gets each line as it arrives (a throw from it
 * ends the query with that error). False when no daemon answers on that path; otherwise rejects as
 * `queryStatus` does. The timeout is for silence, not for the whole answer: a large one may take
 * longer, as long as it keeps coming.
 */
export function streamStatus(path: string, request: StatusRequest, onLine: (line: string) => void, timeoutMs = 5_000, role = 'daemon'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let partial = '';
    let lines = 0;
    let settled = false;
    const settle = (err: Error | null, value = true) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const silent = () => settle(unreachable(path, `no answer within ${timeoutMs / 1000}s (a stuck ${role}: restart it)`));
    const timer = setTimeout(silent, timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      timer.refresh();
      partial += chunk;
      const last = partial.lastIndexOf('\n');
      if (last < 0) return;
      const complete = partial.slice(0, last);
      partial = partial.slice(last + 1);
      try {
        for (const line of complete.split('\n')) {
          if (line === '') continue;
          lines++;
          onLine(line);
        }
      } catch (err) {
        settle(err as Error);
      }
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') settle(null, false);
      else settle(unreachable(path, errorDetail(err, path, role)));
    });
    // After 'error' when there was one: then settled already.
    socket.once('close', () => {
      if (settled) return;
      if (partial.trim() !== '') {
        try {
          lines++;
          onLine(partial);
        } catch (err) {
          return settle(err as Error);
        }
      }
      settle(lines === 0 ? unreachable(path, closedWithoutAnswer(path)) : null);
    });
  });
}

/** An answer that is not what an ah daemon says. */
export function notAnAhStatus(socket: string): AhError {
  return unreachable(socket, `its answer is not an ah status (ss -xlp | grep ${socket})`);
}
