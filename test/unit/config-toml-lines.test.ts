/**
 * Every problem in a configuration file names its line: the line of each key, as TOML writes
 * them (tables, arrays of tables, quoted and dotted keys, inline tables, multi-line strings).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTomlFile } from '../../src/cli/config/toml-file.js';
import { closest } from '../../src/cli/config/suggest.js';
import { tempStateDir } from '../helpers/cli.js';

describe('configuration file lines', () => {
  it('finds the line of every key', () => {
    const path = join(tempStateDir('ah-toml-'), 'c.toml');
    writeFileSync(
      path,
      [
        '# comment', // 1
        '[agent.enroll]', // 2
        'name = "a"', // 3
        'labels = { team = "x" }', // 4
        'vault-common-name = """', // 5
        'remote-server = "not a key"', // 6: inside the string
        '"""', // 7
        '"log-level" = "info"', // 8
        '', // 9
        '[[server]]', // 10
        'name = "one"', // 11
        '[[server]]', // 12
        'name = "two"', // 13
        '  url = "https://b"', // 14
        '[agent . "access-point"]', // 15
        'tls-min = "1.2"', // 16
      ].join('\n'),
    );
    const file = readTomlFile(path);
    expect(file.lineOf(['agent', 'enroll', 'name'])).toBe(3);
    expect(file.lineOf(['agent', 'enroll', 'labels', 'team'])).toBe(4);
    expect(file.lineOf(['agent', 'enroll', 'vault-common-name'])).toBe(5);
    expect(file.lineOf(['agent', 'enroll', 'remote-server'])).toBe(2);
    expect(file.lineOf(['agent', 'enroll', 'log-level'])).toBe(8);
    expect(file.lineOf(['server', 0, 'name'])).toBe(11);
    expect(file.lineOf(['server', 1, 'name'])).toBe(13);
    expect(file.lineOf(['server', 1, 'url'])).toBe(14);
    expect(file.lineOf(['agent', 'access-point', 'tls-min'])).toBe(16);
  });

  it('suggests the closest key only when it is close enough to be a typo', () => {
    const known = ['remote-server', 'renewal-threshold', 'connect-timeout', 'name'];
    expect(closest('remote-sever', known)).toBe('remote-server');
    expect(closest('conect-timeout', known)).toBe('connect-timeout');
    expect(closest('nmae', known)).toBe('name');
    expect(closest('heartbeat-interval', known)).toBeNull();
  });
});
