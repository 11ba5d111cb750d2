/**
 * Limits: every duration and number flag has a range, shown in --help, outside which it is a usage
 * error naming it; the other flags operators got silently wrong are refused too; and an executor
 * told a heartbeat interval it cannot keep says so with the value.
 */
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder } from '../../src/transport/frame-codec.js';
import { runAh, stopAll, tempStateDir } from '../helpers/cli.js';
import { createRoot, issueLeaf, writeIdentity } from '../helpers/pki.js';

afterAll(stopAll);

const REMOTE = ['--remote-server', 'https://127.0.0.1:4433'];
const SAN_HINT = 'not a SPIFFE ID prefix (e.g. spiffe://example.org/ah/agent/):';
const refused = (flag: string, value: string, why: string) => `error: option '${flag}' argument '${value}' is invalid. ${why}`;

describe('flags outside their range are usage errors naming the range', () => {
  const cases: Array<[string[], string]> = [
    [['agent', 'access-point', '--heartbeat-interval', '5ms'], refused('--heartbeat-interval <duration>', '5ms', 'out of range: use 100ms..1h')],
    [['agent', 'access-point', '--heartbeat-interval', '25d'], refused('--heartbeat-interval <duration>', '25d', 'out of range: use 100ms..1h')],
    [['agent', 'access-point', '--dev-cert-ttl', '1ms'], refused('--dev-cert-ttl <duration>', '1ms', 'out of range: use 2s..365d')],
    [['agent', 'access-point', '--files-poll-interval', '10ms'], refused('--files-poll-interval <duration>', '10ms', 'out of range: use 1s..1d')],
    [['agent', 'enroll', ...REMOTE, '--connect-timeout', '25d'], refused('--connect-timeout <duration>', '25d', 'out of range: use 100ms..1d')],
    [['agent', 'enroll', ...REMOTE, '--connect-timeout', '0'], refused('--connect-timeout <duration>', '0', 'out of range: use 100ms..1d')],
    [['agent', 'enroll', ...REMOTE, '--backoff-base', '100d'], refused('--backoff-base <duration>', '100d', 'out of range: use 10ms..1h')],
    [['agent', 'enroll', ...REMOTE, '--backoff-max', '30d'], refused('--backoff-max <duration>', '30d', 'out of range: use 10ms..1d')],
    [['agent', 'enroll', ...REMOTE, '--vault-ttl', '1s'], refused('--vault-ttl <duration>', '1s', 'out of range: use 10s..365d')],
    [
      ['agent', 'enroll', ...REMOTE, '--max-attempts', '99999999'],
      refused('--max-attempts <n>', '99999999', 'expected a whole number from 0 (for ever) to 1000000'),
    ],
    [['agent', 'doctor', ...REMOTE, '--clock-skew-threshold', '60d'], refused('--clock-skew-threshold <duration>', '60d', 'out of range: use 100ms..30d')],
    [['agent', 'demo', '--executors', '1e9'], refused('--executors <n>', '1e9', 'expected a whole number from 1 to 50')],
    [['agent', 'demo', '--executors', '1000000000'], refused('--executors <n>', '1000000000', 'expected a whole number from 1 to 50')],
    [['agent', 'demo', '--duration', '30d'], refused('--duration <duration>', '30d', 'out of range: use 1s..1d')],
    [['agent', 'demo', '--cert-ttl', '1ms'], refused('--cert-ttl <duration>', '1ms', 'out of range: use 2s..1d')],
    [['agent', 'demo', '--heartbeat-interval', '5ms'], refused('--heartbeat-interval <duration>', '5ms', 'out of range: use 100ms..1h')],
    [['agent', 'access-point', '--executor-san-uri-prefix', ''], refused('--executor-san-uri-prefix <uri>', '', `${SAN_HINT} cannot be empty`)],
    [
      ['agent', 'access-point', '--executor-san-uri-prefix', 'not a uri'],
      refused('--executor-san-uri-prefix <uri>', 'not a uri', `${SAN_HINT} the scheme is missing or is not "spiffe://"`),
    ],
    [
      ['agent', 'access-point', '--executor-san-uri-prefix', 'spiffe:/example.org/ah/agent/'],
      refused('--executor-san-uri-prefix <uri>', 'spiffe:/example.org/ah/agent/', `${SAN_HINT} the scheme is missing or is not "spiffe://"`),
    ],
    [['agent', 'access-point', '--state-dir', ''], refused('--state-dir <dir>', '', 'expected a directory, got an empty string')],
    [['agent', 'enroll', ...REMOTE, '--state-dir', ''], refused('--state-dir <dir>', '', 'expected a directory, got an empty string')],
    [['agent', 'status', '--state-dir', ''], refused('--state-dir <dir>', '', 'expected a directory, got an empty string')],
    [
      ['agent', 'enroll', '--remote-server', 'https://:pw@127.0.0.1:4433'],
      "error: invalid --remote-server 'https://***@127.0.0.1:4433': user info (USER:PASSWORD@) is not allowed, the access point authenticates executors by certificate; use https://HOST[:PORT]",
    ],
    [
      ['agent', 'access-point', '--log-level', 'bogus'],
      "error: invalid log level or component 'bogus' (use a level (trace, debug, info, warn, error, off) or a component (ah, ah_cli, ah_executor, ah_access_point, ah_identity_provider, ah_transport, ah_machine, ah_status, ah_roster))",
    ],
    [
      ['agent', 'enroll', ...REMOTE, '--log-level', 'ah_tranport=debug'],
      "error: invalid component in directive 'ah_tranport=debug' (use a level (trace, debug, info, warn, error, off) or a component (ah, ah_cli, ah_executor, ah_access_point, ah_identity_provider, ah_transport, ah_machine, ah_status, ah_roster))",
    ],
  ];
  it.each(cases)('ah %j', async (args, line) => {
    const r = await runAh(args, { AH_STATE_DIR: tempStateDir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${line}\n`);
    // The password never reaches the terminal.
    expect(r.stderr).not.toContain('pw@');
  });

  it('shows each range in --help', async () => {
    const ap = (await runAh(['agent', 'access-point', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(ap).toContain('heartbeat interval told to executors [100ms..1h] (default: 5s)');
    expect(ap).toContain('lifetime of the dev identity certificate [2s..365d]');
    const enroll = (await runAh(['agent', 'enroll', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(enroll).toContain('give up on a connection attempt after this long [100ms..1d] (default: 30s)');
    expect(enroll).toContain('(full jitter, doubling) [10ms..1h] (default: 1s)');
    expect(enroll).toContain('cap of the retry delay [10ms..1d] (default: 60s)');
    expect(enroll).toContain('(0 = retry for ever) [0..1000000] (default: 0)');
    const demo = (await runAh(['agent', 'demo', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(demo).toContain('[1..50] (default: 3)');
  });

  it('still takes the ends of a range', async () => {
    // --help after the flags: parsed (so refused if out of range), then nothing runs.
    for (const args of [
      ['agent', 'access-point', '--heartbeat-interval', '100ms', '--dev-cert-ttl', '365d', '--help'],
      ['agent', 'access-point', '--heartbeat-interval', '1h', '--dev-cert-ttl', '2s', '--executor-san-uri-prefix', 'spiffe://example.org/ah/agent/', '--help'],
      ['agent', 'enroll', ...REMOTE, '--connect-timeout', '24h', '--backoff-base', '1h', '--max-attempts', '1000000', '--help'],
      ['agent', 'demo', '--executors', '50', '--help'],
    ]) {
      const r = await runAh(args);
      expect(r.code, args.join(' ')).toBe(0);
    }
  });
});

describe('a welcome with a heartbeat interval out of range', () => {
  it('is refused by the executor with the value and the range, not as "malformed"', async () => {
    const dir = tempStateDir();
    const root = await createRoot();
    const server = await issueLeaf(root, { cn: 'access point', ips: ['127.0.0.1'], usage: 'server' });
    const client = writeIdentity(`${dir}/executor`, await issueLeaf(root, { cn: 'e', uris: ['spiffe://example.org/ah/agent/e'], usage: 'client' }), root.pem);
    // An access point that welcomes with a 5 ms heartbeat (an embedding that did not check it).
    const tls = createTlsServer(
      { cert: server.certPem, key: server.keyPem, ALPNProtocols: ['ah-fleet/1'], requestCert: true, rejectUnauthorized: false },
      (socket: TLSSocket) => {
        const decoder = new FrameDecoder();
        socket.on('data', (chunk: Buffer) => {
          if (decoder.push(chunk).some((m) => m.type === 'hello')) {
            socket.write(encodeFrame({ type: 'welcome', executorId: 'spiffe://example.org/ah/agent/e', heartbeatInterval: 5, serverTime: Date.now() }));
          }
        });
        socket.on('error', () => {});
      },
    );
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    const { port } = tls.address() as { port: number };
    try {
      const r = await runAh([
        'agent',
        'enroll',
        '--remote-server',
        `https://127.0.0.1:${port}`,
        '--name',
        'e',
        '--max-attempts',
        '1',
        '--identity',
        'files',
        '--cert',
        client.cert,
        '--key',
        client.key,
        '--ca',
        client.ca,
        '--state-dir',
        tempStateDir(),
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr.split('\n')[0]).toBe('error: the access point asked for a heartbeat every 5ms, outside the range this executor accepts (100ms..1h)');
      expect(r.stderr).toContain('ah agent access-point --heartbeat-interval 5s ...   # An interval within 100ms..1h');
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.some((l) => l.code === 'ENROLL_HEARTBEAT_INTERVAL_OUT_OF_RANGE')).toBe(true);
    } finally {
      tls.close();
    }
  });
});
