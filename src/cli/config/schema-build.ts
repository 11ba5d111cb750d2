/**
 * The configuration schema, made from the commands' own options: every configurable flag is a key
 * of its command's table, typed as the flag parses it. `schema/config.schema.json` is this
 * object written out (`npm run schema`); a test fails when the two differ, so a new flag is a
 * new key without anyone editing the schema by hand.
 */
import type { Command, Option } from 'commander';
import { buildProgram } from '../main.js';
import { CONFIG_GROUPS, CONFIG_ONLY_KEYS, GROUPS_WITH_IDENTITY, type ConfigGroup } from './keys.js';
import { configurable } from './resolve.js';
import { kindOf } from './option-kinds.js';

export const DURATION_PATTERN = '^\\s*(\\d+(\\.\\d+)?|(\\d+(\\.\\d+)?(ms|s|m|h|d))+)\\s*$';
const SERVER_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';

type JsonSchema = Record<string, unknown>;

function keySchema(option: Option): JsonSchema {
  const description = option.description;
  const name = option.long!.slice(2);
  if (option.isBoolean()) return { type: 'boolean', description };
  if (option.argChoices) return { type: 'string', enum: [...option.argChoices], description };
  // Several access points: the executor's failover list (a name of a [[server]] entry, or a URL, each).
  if (name === 'remote-server') return { type: ['string', 'array'], items: { type: 'string', minLength: 1 }, minItems: 1, minLength: 1, description };
  if (name === 'labels') return { type: ['string', 'object'], additionalProperties: { type: 'string' }, description };
  const kind = kindOf(option);
  if (kind?.type === 'duration') return { type: 'string', pattern: DURATION_PATTERN, description };
  if (kind?.type === 'count') return { type: 'integer', minimum: kind.min, maximum: kind.max, description };
  if (kind?.type === 'fraction') return { type: 'number', exclusiveMinimum: kind.min, exclusiveMaximum: kind.max, description };
  return { type: 'string', minLength: 1, description };
}

export function commandOf(program: Command, group: ConfigGroup): Command {
  let command = program;
  for (const word of group.split('.')) command = command.commands.find((c) => c.name() === word)!;
  return command;
}

function groupSchema(command: Command, group: ConfigGroup): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const option of configurable(command, group)) properties[option.long!.slice(2)] = keySchema(option);
  if (GROUPS_WITH_IDENTITY.includes(group)) {
    for (const [key, spec] of Object.entries(CONFIG_ONLY_KEYS)) properties[key] = { type: 'string', minLength: 1, description: spec.description };
  }
  return { type: 'object', additionalProperties: false, properties };
}

export function buildConfigSchema(): JsonSchema {
  const program = buildProgram();
  const agent: Record<string, JsonSchema> = {};
  for (const group of CONFIG_GROUPS) agent[group.split('.')[1]!] = groupSchema(commandOf(program, group), group);
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'ah configuration (/etc/agent-harbor/config.toml, ~/.config/agent-harbor/config.toml, --config FILE)',
    type: 'object',
    additionalProperties: false,
    properties: {
      agent: { type: 'object', additionalProperties: false, properties: agent },
      server: {
        type: 'array',
        description: 'access points by name: remote-server may name one (or a list of them)',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'url'],
          properties: {
            name: { type: 'string', pattern: SERVER_NAME_PATTERN, description: 'the name remote-server uses' },
            url: { type: 'string', minLength: 1, description: 'https://HOST[:PORT]' },
          },
        },
      },
    },
  };
}

const REFERENCE_START = '<!-- keys:start (generated from schema/config.schema.json by npm run schema) -->';
const REFERENCE_END = '<!-- keys:end -->';

function typeText(schema: JsonSchema): string {
  if (schema.pattern) return 'duration';
  if (schema.enum) return (schema.enum as string[]).map((v) => `"${v}"`).join(' \\| ');
  const types = ([] as string[]).concat(schema.type as string | string[]);
  const range =
    schema.minimum !== undefined
      ? ` ${schema.minimum}..${schema.maximum}`
      : schema.exclusiveMinimum !== undefined
        ? ` (${schema.exclusiveMinimum}, ${schema.exclusiveMaximum})`
        : '';
  return types.map((t) => (t === 'array' ? 'array of strings' : t === 'object' ? 'table' : t)).join(' or ') + range;
}

/** The keys of every table, as a Markdown section rendered from the schema (docs/configuration.md). */
export function keyReference(schema: JsonSchema): string {
  const agent = ((schema.properties as JsonSchema).agent as JsonSchema).properties as Record<string, JsonSchema>;
  const parts = [REFERENCE_START, ''];
  for (const [table, tableSchema] of Object.entries(agent)) {
    parts.push(`### [agent.${table}]`, '', '| key | type | what |', '|---|---|---|');
    for (const [key, keySchema] of Object.entries(tableSchema.properties as Record<string, JsonSchema>)) {
      parts.push(`| \`${key}\` | ${typeText(keySchema)} | ${String(keySchema.description ?? '').replace(/\|/g, '\\|')} |`);
    }
    parts.push('');
  }
  parts.push(REFERENCE_END);
  return parts.join('\n');
}

/** `text` with its generated key reference replaced by `reference`. */
export function withKeyReference(text: string, reference: string): string {
  const start = text.indexOf(REFERENCE_START);
  const end = text.indexOf(REFERENCE_END);
  if (start < 0 || end < 0) throw new Error('docs/configuration.md has no keys:start/keys:end markers');
  return text.slice(0, start) + reference + text.slice(end + REFERENCE_END.length);
}
