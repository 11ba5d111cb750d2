/**
 * The guide's connection errors, made for real, with the exact first line on stderr and exit 1
 * under --max-attempts; and usage errors, one line and exit 2.
 */
import { renderMessage } from '../../src/errors/catalog.js';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { runAh, stopAll, tempStateDir } from '../helpers/cli.js';

afterAll(stopAll);

/** A port nothing listens on: bound once by us, then released. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Accepts TCP connections and never says a word: a TLS client waits for the ServerHello for ever. */
async function silentServer(): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, sockets };
}

const firstLine = (text: string) => text.split('\n')[0];

describe('connection errors', () => {
  it('says "connection refused to HOST:PORT" as given, and exits 1 after --max-attempts 1', async () => {
    const port = await deadPort();
    const r = await runAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${port}`,
      '--name',
      'a',
      '--max-attempts',
      '1',
      '--state-dir',
      tempStateDir(),
    ]);
    expect(r.code).toBe(1);
    expect(firstLine(r.stderr)).toBe(`error: connection refused to 127.0.0.1:${port}`);
    // Then the guide's causes and fixes, indented.
    expect(r.stderr).toContain('    1. Access point not running');
    expect(r.stderr).toContain('    ss -tlnp | grep 4433');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('names the host as the operator wrote it', async () => {
    const port = await deadPort();
    const r = await runAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://localhost:${port}`,
      '--name',
      'a',
      '--max-attempts',
      '1',
      '--state-dir',
      tempStateDir(),
    ]);
    expect(r.code).toBe(1);
    expect(firstLine(r.stderr)).toBe(`error: connection refused to localhost:${port}`);
  });

  it('says "connection timed out after <the configured value>" when nothing answers the TLS hello', async () => {
    const silent = await silentServer();
    try {
      for (const [flag, shown] of [
        ['2s', '2s'],
        ['1500ms', '1.5s'],
      ] as const) {
        const started = Date.now();
        const r = await runAh([
          'agent',
          'enroll',
          '--remote-server',
          `https://127.0.0.1:${silent.port}`,
          '--name',
          'a',
          '--connect-timeout',
          flag,
          '--max-attempts',
          '1',
          '--state-dir',
          tempStateDir(),
        ]);
        expect(r.code).toBe(1);
        expect(firstLine(r.stderr)).toBe(`error: connection timed out after ${shown}`);
        expect(r.stderr).toContain('    1. Network routing issues');
        expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
      }
      expect(silent.sockets.length).toBeGreaterThanOrEqual(2); // TCP was reached; TLS never answered
    } finally {
      for (const s of silent.sockets) s.destroy();
      silent.server.close();
    }
  });

  it('retries with jittered backoff between attempts, logging each, then gives up with exit 1', async () => {
    const port = await deadPort();
    const r = await runAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${port}`,
      '--name',
      'a',
      '--max-attempts',
      '4',
      '--backoff-base',
      '200ms',
      '--state-dir',
      tempStateDir(),
    ]);
    expect(r.code).toBe(1);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const retries = lines.filter((l) => l.event === 'retrying');
    expect(retries.map((l) => l.attempt)).toEqual([1, 2, 3]);
    for (const l of retries) {
      expect(l).toMatchObject({ level: 40, code: 'ENROLL_CONNECTION_REFUSED', retryInMs: expect.any(Number) });
      // Each line leads with the catalog's message for its code (the guide's words, exact).
      expect(l.msg.split(';')[0]).toBe(renderMessage(l.code, { address: `127.0.0.1:${port}` }));
    }
    const gaveUp = lines.filter((l) => l.level === 50);
    expect(gaveUp).toEqual([expect.objectContaining({ event: 'gave_up', code: 'ENROLL_CONNECTION_REFUSED', attempts: 4 })]);
    expect(gaveUp[0].msg.split(';')[0]).toBe(renderMessage(gaveUp[0].code, { address: `127.0.0.1:${port}` }));
    expect(firstLine(r.stderr)).toBe(`error: connection refused to 127.0.0.1:${port}`);
  });
});

describe('usage errors: one line, exit 2', () => {
  const cases: Array<[string[], string]> = [
    [['agent', 'enroll', '--remote-server', 'https://x', '--bogus'], "error: unknown option '--bogus'"],
    [['agent', 'enroll'], "error: required option '--remote-server <url>' not specified"],
    [['agent', 'enroll', '--remote-server', 'ftp://x'], "error: invalid --remote-server 'ftp://x': the fleet link is TLS, use https://HOST[:PORT]"],
    [
      ['agent', 'enroll', '--remote-server', 'https://x', '--connect-timeout', 'soon'],
      "error: option '--connect-timeout <duration>' argument 'soon' is invalid. invalid duration 'soon' (use e.g. 500ms, 30s, 5m, 1h)",
    ],
    [
      ['agent', 'enroll', '--remote-server', 'https://x', '--max-attempts', '-1'],
      "error: option '--max-attempts <n>' argument '-1' is invalid. expected a whole number from 0 (for ever) to 1000000",
    ],
    [
      ['agent', 'enroll', '--remote-server', 'https://x', '--name', 'a/b'],
      "error: option '--name <name>' argument 'a/b' is invalid. use 1-63 letters, digits, dots, dashes or underscores",
    ],
    [['agent', 'access-point', '--fleet-listen', 'nowhere'], "error: invalid listen address 'nowhere' (expected HOST:PORT, e.g. 127.0.0.1:4433)"],
    [
      ['agent', 'access-point', '--log-level', 'ah_cli=loud'],
      "error: invalid log level in directive 'ah_cli=loud' (use trace, debug, info, warn, error or off)",
    ],
    [['agent', 'statsu'], "error: unknown command 'statsu' (Did you mean status?)"],
  ];
  it.each(cases)('ah %j', async (args, line) => {
    const r = await runAh(args, { AH_STATE_DIR: tempStateDir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${line}\n`);
    expect(r.stdout).toBe('');
  });

  it('prints --help at every level and the version', async () => {
    for (const args of [
      ['--help'],
      ['agent', '--help'],
      ['agent', 'enroll', '--help'],
      ['agent', 'access-point', '--help'],
      ['agent', 'status', '--help'],
      ['agent', 'fleet', '--help'],
    ]) {
      const r = await runAh(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: ah/);
    }
    const v = await runAh(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
