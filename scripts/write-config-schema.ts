/**
 * Writes schema/config.schema.json from the commands' options, and the key reference of
 * docs/configuration.md from it (test/unit/config-schema.test.ts checks both are current).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { buildConfigSchema, keyReference, withKeyReference } from '../src/cli/config/schema-build.js';

const schemaUrl = new URL('../schema/config.schema.json', import.meta.url);
const docsUrl = new URL('../docs/configuration.md', import.meta.url);
const schema = buildConfigSchema();
writeFileSync(schemaUrl, `${JSON.stringify(schema, null, 2)}\n`);
writeFileSync(docsUrl, withKeyReference(readFileSync(docsUrl, 'utf8'), keyReference(schema)));
process.stdout.write(`wrote ${schemaUrl.pathname} and the key reference of ${docsUrl.pathname}\n`);
