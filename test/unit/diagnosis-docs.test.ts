/**
 * The diagnosis table is the one source of the matrix test, docs/diagnosis.md and the README's
 * section: the committed docs must be what the table renders (run `npm run docs:diagnosis`), and
 * the table must cover every `error:` line of the guide with the catalog's own message.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { catalog, renderMessage } from '../../src/errors/catalog.js';
import { DIAGNOSIS_ROWS, GUIDE_ERROR_LINES } from '../diagnosis/diagnosis-table.js';
import { README_END, README_START, readmeWithSection, renderDiagnosisPage, renderReadmeSection } from '../diagnosis/render-docs.js';

const root = join(import.meta.dirname, '..', '..');

describe('diagnosis table', () => {
  it('has a row for every error line of the guide', () => {
    const covered = new Set(DIAGNOSIS_ROWS.map((r) => r.guideLine));
    expect(GUIDE_ERROR_LINES.filter((line) => !covered.has(line))).toEqual([]);
  });

  it.each(DIAGNOSIS_ROWS.filter((r) => r.guideLine !== null).map((r) => [r.id, r] as const))(
    '%s: the catalog renders the guide line word for word',
    (_id, row) => {
      expect(renderMessage(row.code, row.guideParams ?? {})).toBe(row.guideLine);
    },
  );

  it('has unique ids, known codes and a fix for every row', () => {
    expect(new Set(DIAGNOSIS_ROWS.map((r) => r.id)).size).toBe(DIAGNOSIS_ROWS.length);
    for (const r of DIAGNOSIS_ROWS) {
      expect(catalog[r.code], r.id).toBeDefined();
      expect(r.fix, r.id).toMatch(/\w/);
    }
  });
});

describe('generated docs', () => {
  it('docs/diagnosis.md is what the table renders (npm run docs:diagnosis)', () => {
    expect(readFileSync(join(root, 'docs', 'diagnosis.md'), 'utf8')).toBe(renderDiagnosisPage());
  });

  it("the README's diagnosis section is what the table renders (npm run docs:diagnosis)", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain(README_START);
    expect(readme).toContain(README_END);
    expect(readmeWithSection(readme)).toBe(readme);
    expect(readme).toContain(renderReadmeSection());
  });
});
