/** PEM files for an etcd on TLS that asks its clients for a certificate (`--client-cert-auth`). */
export interface EtcdTls {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
  /** A client certificate and key the CA signed, for the helper's own calls. */
  readonly clientCert: string;
  readonly clientKey: string;
}

/**
 * A real etcd for the roster tests (Debian's `etcd-server`): on free loopback ports (client and
 * peer), with a temporary data dir, in a process group of its own like every test process. It can
 * be killed with SIGKILL and started again on the same data dir and ports (an outage), and
 * compacted (a watch that falls behind must relist).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { eventually } from './eventually.js';
import { freePort } from './metrics.js';
import { endGroup, spawnTracked } from './processes.js';
import { requireTool } from './tools.js';

export class TestEtcd {
  private child: ChildProcess | null = null;
  private output: string[] = [];

  private constructor(
    readonly dataDir: string,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly tls: EtcdTls | null = null,
  ) {}

  /** Starts one on fresh ports and a fresh data dir; resolves once it answers. */
  static async start(tls: EtcdTls | null = null): Promise<TestEtcd> {
    const etcd = new TestEtcd(mkdtempSync(join(tmpdir(), 'ah-etcd-')), await freePort(), await freePort(), tls);
    await etcd.restart();
    return etcd;
  }

  /** `etcd://127.0.0.1:PORT` (`etcds://` on TLS), as `--roster` takes it. */
  get url(): string {
    return `${this.tls ? 'etcds' : 'etcd'}://127.0.0.1:${this.clientPort}`;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** (Re)starts it on the same data dir and ports, and waits until it answers (bounded). */
  async restart(): Promise<void> {
    if (this.child) throw new Error('etcd is running already');
    const client = `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.clientPort}`;
    const tls = this.tls ? ['--cert-file', this.tls.cert, '--key-file', this.tls.key, '--trusted-ca-file', this.tls.ca, '--client-cert-auth'] : [];
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const child = spawnTracked(
      requireTool('etcd'),
      [
        '--name',
        'ah-test',
        '--data-dir',
        this.dataDir,
        '--listen-client-urls',
        client,
        '--advertise-client-urls',
        client,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `ah-test=${peer}`,
        '--log-level',
        'error',
        ...tls,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    child.stderr?.on('data', (b: Buffer) => this.output.push(b.toString()));
    child.stdout?.on('data', (b: Buffer) => this.output.push(b.toString()));
    await eventually(
      () => this.healthy(),
      (ok) => ok,
      `etcd to answer on ${client}`,
      { timeoutMs: 30_000, intervalMs: 100, show: () => this.output.slice(-5).join('') || '(no output)' },
    );
  }

  /** `kill -9`: its clients see the connection go, the data dir stays for `restart()`. */
  async kill(): Promise<void> {
    if (!this.child) return;
    await endGroup(this.child, 'SIGKILL');
    this.child = null;
  }

  /** Compacts the history up to the current revision; returns that revision. */
  async compact(): Promise<number> {
    const client = this.client();
    try {
      const status = await client.maintenance.status();
      const revision = status.header.revision;
      await client.kv.compact({ revision, physical: true });
      return Number(revision);
    } finally {
      client.close();
    }
  }

  /** A client of its own (the caller closes it). */
  client(): Etcd3 {
    return new Etcd3({ hosts: `http://127.0.0.1:${this.clientPort}`, dialTimeout: 2_000 });
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async healthy(): Promise<boolean> {
    if (this.tls) return this.healthyTls(this.tls);
    try {
      const res = await fetch(`http://127.0.0.1:${this.clientPort}/health`, { signal: AbortSignal.timeout(1_000) });
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    } catch {
      return false;
    }
  }

  private healthyTls(tls: EtcdTls): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.clientPort,
          path: '/health',
          ca: readFileSync(tls.ca),
          cert: readFileSync(tls.clientCert),
          key: readFileSync(tls.clientKey),
          timeout: 1_000,
        },
        (res) => {
          let body = '';
          res.on('data', (b: Buffer) => (body += b.toString()));
          res.on('end', () => resolve(res.statusCode === 200 && body.includes('"health":"true"')));
        },
      );
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  }
}
