/**
 * `--roster etcds://… --roster-ca --roster-cert --roster-key`: the roster on an etcd that speaks
 * TLS and asks its clients for a certificate. With the right files the access point registers and
 * lists its executors; without a client certificate etcd refuses it, and it serves all the same.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExecutor } from '../../src/index.js';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon } from '../helpers/cli.js';
import { TestEtcd } from '../helpers/etcd.js';
import { createRoot, issueLeaf, writeIdentity } from '../helpers/pki.js';
import { skipWithout } from '../helpers/tools.js';

const BOUND_MS = 60_000;
let etcd: TestEtcd;
let files: { ca: string; cert: string; key: string };

async function accessPoint(id: string, tlsFlags: string[]): Promise<{ daemon: Daemon; stateDir: string; port: number }> {
  const stateDir = tempStateDir(`ah-${id}-`);
  const daemon = startAh(
    ['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--roster', etcd.url, ...tlsFlags, '--access-point-id', id, '--state-dir', stateDir],
    {},
    id,
  );
  const listening = await daemon.waitForLine(isEvent('access_point_listening'), 'listening', BOUND_MS);
  return { daemon, stateDir, port: Number(String(listening.address).split(':').at(-1)) };
}

describe.skipIf(skipWithout('etcd'))('roster on etcd over TLS', () => {
  beforeAll(async () => {
    const dir = tempStateDir('ah-etcd-tls-');
    const root = await createRoot('etcd test CA');
    const server = writeIdentity(join(dir, 'server'), await issueLeaf(root, { cn: 'etcd', ips: ['127.0.0.1'], usage: 'both' }), root.pem);
    files = writeIdentity(join(dir, 'client'), await issueLeaf(root, { cn: 'ah-access-point', usage: 'client' }), root.pem);
    etcd = await TestEtcd.start({ cert: server.cert, key: server.key, ca: server.ca, clientCert: files.cert, clientKey: files.key });
  }, BOUND_MS);

  afterAll(async () => {
    await stopAll();
    await etcd?.stop();
  });

  it('registers and lists the fleet with --roster-ca, --roster-cert and --roster-key', async () => {
    const ap = await accessPoint('ap-tls', ['--roster-ca', files.ca, '--roster-cert', files.cert, '--roster-key', files.key]);
    await ap.daemon.waitForLine(isEvent('roster_connected'), 'connected to etcd over TLS', BOUND_MS);
    const ex = createExecutor({ name: 'tls-1', remoteServer: `https://127.0.0.1:${ap.port}`, stateDir: tempStateDir(), statusSocket: false });
    try {
      await ex.start();
      await ex.waitFor('enrolled', BOUND_MS);
      const fleet = JSON.parse((await runAh(['agent', 'fleet', '--json', '--state-dir', ap.stateDir])).stdout);
      expect(fleet.executors.map((e: { name: string; accessPoint: string }) => [e.name, e.accessPoint])).toEqual([['tls-1', 'ap-tls']]);
      const aps = JSON.parse((await runAh(['agent', 'fleet', '--access-points', '--json', '--state-dir', ap.stateDir])).stdout);
      expect(aps.accessPoints).toEqual([{ id: 'ap-tls', address: `https://127.0.0.1:${ap.port}`, state: 'serving', executors: 1 }]);
    } finally {
      await ex.stop();
    }
  });

  it('without a client certificate etcd refuses it: said once, and executors are admitted all the same', async () => {
    const ap = await accessPoint('ap-nocert', ['--roster-ca', files.ca]);
    await ap.daemon.waitForLine(isEvent('roster_disconnected'), 'etcd refusing it', BOUND_MS);
    const ex = createExecutor({ name: 'tls-2', remoteServer: `https://127.0.0.1:${ap.port}`, stateDir: tempStateDir(), statusSocket: false });
    try {
      await ex.start();
      await ex.waitFor('enrolled', BOUND_MS);
      const fleet = JSON.parse((await runAh(['agent', 'fleet', '--json', '--state-dir', ap.stateDir])).stdout);
      expect(fleet.executors.map((e: { name: string }) => e.name)).toEqual(['tls-2']);
      expect(ap.daemon.lines.filter(isEvent('roster_connected'))).toEqual([]);
      expect(ap.daemon.lines.filter(isEvent('roster_disconnected'))).toHaveLength(1);
    } finally {
      await ex.stop();
    }
  });
});
