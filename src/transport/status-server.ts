/**
 * A daemon's status, served on a unix socket in the state dir: the client writes one JSON line
 * (`{"cmd":"status"}`), the daemon answers with one JSON line and closes. A socket file left by a
 * killed daemon is detected (nothing answers on it) and replaced.
 */
import { mkdir, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { AhError } from '../errors/ah-error.js';

export type StatusHandler = (command: string) => unknown;

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
      await mkdir(dirname(this.path), { recursive: true, mode: 0o755 });
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
      let command = 'status';
      try {
        command = String((JSON.parse(buffered.slice(0, nl)) as { cmd?: unknown }).cmd ?? 'status');
      } catch {
        socket.end(`${JSON.stringify({ error: 'bad request' })}\n`);
        return;
      }
      let answer: unknown;
      try {
        answer = this.handler(command);
      } catch (err) {
        answer = { error: (err as Error).message };
      }
      socket.end(`${JSON.stringify(answer)}\n`);
    });
  }
}

/** Ask a daemon; null when no daemon answers on that path. */
export function queryStatus(path: string, command = 'status', timeoutMs = 5_000): Promise<unknown | null> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffered = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer on ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify({ cmd: command })}\n`));
    socket.on('data', (chunk: string) => (buffered += chunk));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(null);
      else reject(err);
    });
    socket.once('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buffered));
      } catch {
        reject(new Error(`unreadable answer on ${path}`));
      }
    });
  });
}
