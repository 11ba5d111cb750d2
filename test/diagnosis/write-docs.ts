/** `npm run docs:diagnosis`: rewrite docs/diagnosis.md and the README section from the diagnosis table. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readmeWithSection, renderDiagnosisPage } from './render-docs.js';

const root = join(import.meta.dirname, '..', '..');
writeFileSync(join(root, 'docs', 'diagnosis.md'), renderDiagnosisPage());
const readme = join(root, 'README.md');
writeFileSync(readme, readmeWithSection(readFileSync(readme, 'utf8')));
process.stdout.write('docs/diagnosis.md and the README diagnosis section written\n');
