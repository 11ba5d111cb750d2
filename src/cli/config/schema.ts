/**
 * The one configuration schema (schema/config.schema.json, also the reference of
 * docs/configuration.md), checked with Ajv. Of a file's problems the first by line is reported,
 * in one line: the file, the line, the key, what is wrong, and the closest known key for a typo.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { configError, where } from './problems.js';
import { closest } from './suggest.js';
import type { TomlFile } from './toml-file.js';

export const SCHEMA_URL = new URL('../../../schema/config.schema.json', import.meta.url);

let validator: ValidateFunction | null = null;

function validatorOf(): ValidateFunction {
  if (!validator) {
    const schema = JSON.parse(readFileSync(SCHEMA_URL, 'utf8')) as object;
    validator = new Ajv({ allErrors: true, verbose: true, strict: true, strictTypes: false, allowUnionTypes: true }).compile(schema);
  }
  return validator;
}

type Json = Record<string, unknown>;

/** `agent.enroll.connect-timeout`, `server[0].url`. */
function keyName(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'a table';
  return String(value);
}

/** What a key's schema asks for, in an operator's words. */
function expected(schema: Json): string {
  if (schema.pattern) return 'a duration such as "30s" (ms, s, m, h, d)';
  if (schema.enum) return `one of ${(schema.enum as string[]).join(', ')}`;
  const types = ([] as string[]).concat(schema.type as string | string[]);
  const words: Record<string, string> = {
    boolean: 'true or false',
    integer: schema.minimum !== undefined ? `a whole number from ${schema.minimum} to ${schema.maximum}` : 'a whole number',
    number: schema.exclusiveMinimum !== undefined ? `a number between ${schema.exclusiveMinimum} and ${schema.exclusiveMaximum}` : 'a number',
    string: 'a string',
    array: 'an array of strings',
    object: 'a table',
  };
  return types.map((t) => words[t] ?? t).join(' or ');
}

function problemOf(error: ErrorObject): { path: (string | number)[]; problem: string } {
  const path: (string | number)[] = error.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const parent = error.parentSchema as Json;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys((parent.properties as Json) ?? {});
      const guess = closest(key, known);
      const prefix = path.length > 0 && typeof path[path.length - 1] === 'string' && path.length < 2 ? `${path.join('.')}.` : '';
      const value = (error.data as Json)[key];
      const isTable = value !== null && typeof value === 'object' && !Array.isArray(value) && (path.length === 0 || (path.length === 1 && path[0] === 'agent'));
      const what = isTable ? 'table' : path.length === 0 ? 'key outside a table (keys go under [agent.enroll], [agent.access-point], ...)' : 'key';
      return { path: [...path, key], problem: `unknown ${what}${guess ? ` (did you mean ${prefix}${guess}?)` : ''}` };
    }
    case 'required':
      return { path, problem: `missing ${(error.params as { missingProperty: string }).missingProperty}` };
    case 'type':
    case 'pattern':
    case 'enum':
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
    case 'minLength':
    case 'minItems':
      return {
        path,
        problem: `expected ${error.keyword === 'minLength' || error.keyword === 'minItems' ? 'a value, got an empty one' : `${expected(parent)}, got ${shown(error.data)}`}`,
      };
    default:
      return { path, problem: error.message ?? 'invalid value' };
  }
}

/** Throws the one-line problem of the first (by line) thing the schema refuses in `file`. */
export function validateFile(file: TomlFile): void {
  const validate = validatorOf();
  if (validate(file.data)) return;
  const problems = (validate.errors ?? [])
    // Ajv reports a union type's mismatch once per branch it tried; the type error says it all.
    .filter((e) => e.keyword !== 'if')
    .map(problemOf)
    .map((p) => ({ ...p, line: file.lineOf(p.path) }));
  problems.sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER));
  const first = problems[0]!;
  throw configError('ENROLL_CONFIG_INVALID', { where: where(file.path, first.line), problem: `${keyName(first.path)}: ${first.problem}` });
}
