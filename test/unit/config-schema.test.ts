/**
 * The one configuration schema: schema/config.schema.json is what the commands' options make of
 * it (a new flag is a new key), docs/configuration.md shows it, and it refuses what it should.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { buildConfigSchema, keyReference, withKeyReference } from '../../src/cli/config/schema-build.js';
import { ROOT } from '../helpers/cli.js';

const SCHEMA = join(ROOT, 'schema', 'config.schema.json');
const DOCS = join(ROOT, 'docs', 'configuration.md');

describe('configuration schema', () => {
  it("is current with the commands' options (npm run schema rewrites it)", () => {
    expect(JSON.parse(readFileSync(SCHEMA, 'utf8'))).toEqual(buildConfigSchema());
  });

  it("is what docs/configuration.md's key reference shows (npm run schema rewrites it)", () => {
    const text = readFileSync(DOCS, 'utf8');
    expect(text).toBe(withKeyReference(text, keyReference(buildConfigSchema())));
  });

  it('types keys as their flags parse them, and refuses unknown keys', () => {
    const validate = new Ajv({ strictTypes: false, allowUnionTypes: true }).compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
    const ok = (enroll: Record<string, unknown>) => validate({ agent: { enroll } });
    expect(ok({ 'connect-timeout': '30s', 'max-attempts': 5, 'renewal-threshold': 0.7, 'remote-server': ['a', 'b'], labels: { team: 'x' } })).toBe(true);
    expect(ok({ 'connect-timeout': 30 })).toBe(false);
    expect(ok({ 'max-attempts': -1 })).toBe(false);
    expect(ok({ 'renewal-threshold': 1 })).toBe(false);
    expect(ok({ identity: 'ldap' })).toBe(false);
    expect(ok({ 'remote-sever': 'x' })).toBe(false);
    expect(ok({ json: true })).toBe(false);
    expect(validate({ server: [{ name: 'a' }] })).toBe(false);
    expect(validate({ agent: { 'access-point': { 'debug-allow-remote': true, 'max-handshakes': 64 } } })).toBe(true);
  });
});
