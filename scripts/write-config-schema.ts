/** Writes schema/config.schema.json from the commands' options (test/unit/config-schema.test.ts checks it is current). */
import { writeFileSync } from 'node:fs';
import { buildConfigSchema } from '../src/cli/config/schema-build.js';

const url = new URL('../schema/config.schema.json', import.meta.url);
writeFileSync(url, `${JSON.stringify(buildConfigSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${url.pathname}\n`);
