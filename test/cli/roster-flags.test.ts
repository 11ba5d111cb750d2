/** `ah agent access-point --roster …`: a mistake in the roster's flags is one line and exit 2, before anything starts. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAh, tempStateDir } from '../helpers/cli.js';

const dir = tempStateDir('ah-roster-flags-');
const ca = join(dir, 'ca.pem');
writeFileSync(ca, 'not checked here\n');

describe('roster flags', () => {
  const cases: Array<[string[], string]> = [
    [
      ['--roster', 'http://127.0.0.1:2379'],
      "error: option '--roster <url>' argument 'http://127.0.0.1:2379' is invalid. expected etcd://HOST:PORT[,HOST:PORT...] or etcds://... for TLS, got 'http://127.0.0.1:2379'",
    ],
    [
      ['--roster', 'etcd://127.0.0.1'],
      "error: option '--roster <url>' argument 'etcd://127.0.0.1' is invalid. expected HOST:PORT in --roster, got '127.0.0.1'",
    ],
    [
      ['--roster', 'etcd://127.0.0.1:2379', '--roster-prefix', 'ah'],
      "error: option '--roster-prefix <prefix>' argument 'ah' is invalid. expected a key prefix like /ah/ (starting and ending with /, letters, digits, dots, dashes, underscores), got 'ah'",
    ],
    [
      ['--roster', 'etcd://127.0.0.1:2379', '--roster-lease-ttl', '1s'],
      "error: option '--roster-lease-ttl <duration>' argument '1s' is invalid. out of range: use 2s..1m",
    ],
    [['--roster', 'etcd://127.0.0.1:2379', '--roster-ca', ca], 'error: --roster-ca, --roster-cert and --roster-key need etcds:// (TLS)'],
    [['--roster-ca', ca], 'error: --roster-ca, --roster-cert and --roster-key need --roster etcds://...'],
    [['--roster', 'etcds://127.0.0.1:2379', '--roster-ca', join(dir, 'missing.pem')], `error: cannot read --roster-ca ${join(dir, 'missing.pem')}: ENOENT`],
    [['--roster', 'etcds://127.0.0.1:2379', '--roster-cert', ca], 'error: --roster-cert and --roster-key go together'],
    [['--access-point-id', 'ap 1'], "error: option '--access-point-id <id>' argument 'ap 1' is invalid. use 1-63 letters, digits, dots, dashes or underscores"],
    [
      ['--advertise-address', '10.0.0.1:4433'],
      "error: option '--advertise-address <url>' argument '10.0.0.1:4433' is invalid. expected https://HOST:PORT, the address executors dial",
    ],
  ];
  it.each(cases)('ah agent access-point %j', async (args, line) => {
    const r = await runAh(['agent', 'access-point', '--state-dir', tempStateDir(), ...args]);
    expect(r.stderr).toBe(`${line}\n`);
    expect(r.code).toBe(2);
  });
});
