/**
 * A daemon's status, served on a unix socket in the state dir: the client writes one JSON line
 * (`{"cmd":"status"}`), the daemon answers with one JSON line and closes. A socket file left by a
 * killed daemon is detected (nothing answers on it) and replaced.
 */
import { chmod, mkdir, unlink } from 'node:fs/promises';
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
