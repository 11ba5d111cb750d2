/**
 * Log lines are matched by their `event` field, never by their prose: docs/log-events.md lists
 * every event name, and this test keeps the list and the sources in step. Every `event: '…'`
 * literal in src/ is on the page, every name on the page is logged somewhere in src/, and every
 * pino call in src/ gives its line an `event`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AUDIT_EVENTS } from '../../src/audit/audit-log.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PAGE = join(ROOT, 'docs', 'log-events.md');
/** The machine inspector's lines carry XState's event, not a narrated one (the page says so). */
const MACHINE_LOG = 'src/log/machine-log.ts';
/** Audit records are a file format of their own (README, audit log), typed by AUDIT_EVENTS. */
const AUDIT_RECORDS = 'src/audit/access-point-audit.ts';

function sourcesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = join(dir, e.name);
    if (e.isDirectory()) return sourcesUnder(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

/** Event names a source gives (`event: 'x'`, or each branch of `event: c ? 'x' : 'y'`), with their line. */
function eventLiterals(text: string): Array<{ name: string; line: number }> {
  const found: Array<{ name: string; line: number }> = [];
  // Not `(event: 'machine', …)`: that is a parameter's type.
  for (const m of text.matchAll(/(?<![(\w])event: ('[^']*'|[\w.?]+ \? '[^']*' : '[^']*')/g)) {
    const line = text.slice(0, m.index).split('\n').length;
    for (const lit of m[1]!.matchAll(/'([^']*)'/g)) found.push({ name: lit[1]!, line });
  }
  return found;
}

/** pino calls (`log.info(`, `this.logger.warn(`, …) whose arguments name no `event`, with their line. */
function callsWithoutEvent(text: string): number[] {
  const missing: number[] = [];
  for (const m of text.matchAll(/\b(?!console\b)[\w.?]*\b(?:log|logger|logging\.get\([^)]*\))\??\.(trace|debug|info|warn|error|fatal)\(/g)) {
    // The argument list, up to the matching parenthesis.
    let depth = 0;
    let end = m.index + m[0].length - 1;
    for (; end < text.length; end++) {
      if (text[end] === '(') depth++;
      else if (text[end] === ')' && --depth === 0) break;
    }
    if (!/\bevent: /.test(text.slice(m.index + m[0].length, end))) missing.push(text.slice(0, m.index).split('\n').length);
  }
  return missing;
}

/** The names the page lists: the first cell of each table row, in backticks. */
function listedNames(page: string): Set<string> {
  return new Set([...page.matchAll(/^\| `([a-z0-9_]+)` \|/gm)].map((m) => m[1]!));
}

const sources = sourcesUnder('src').filter((f) => f !== MACHINE_LOG);
const logged = new Map<string, string[]>();
for (const file of sources) {
  for (const { name, line } of eventLiterals(readFileSync(join(ROOT, file), 'utf8'))) {
    if (file === AUDIT_RECORDS && (AUDIT_EVENTS as readonly string[]).includes(name)) continue;
    logged.set(name, [...(logged.get(name) ?? []), `${file}:${line}`]);
  }
}
const listed = listedNames(readFileSync(PAGE, 'utf8'));

describe('docs/log-events.md lists every log event', () => {
  it('every event a source logs is on the page, in snake_case', () => {
    expect(logged.size).toBeGreaterThan(40);
    const unlisted = [...logged].filter(([name]) => !listed.has(name)).map(([name, at]) => `${name} (${at.join(', ')})`);
    expect(unlisted).toEqual([]);
    expect([...logged.keys()].filter((name) => !/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(name))).toEqual([]);
  });

  it('every event on the page is logged somewhere in src/', () => {
    expect([...listed].filter((name) => !logged.has(name))).toEqual([]);
  });

  it('every pino call in src/ gives its line an event', () => {
    const missing = sources.flatMap((file) =>
      callsWithoutEvent(readFileSync(join(ROOT, file), 'utf8')).map((line) => `${relative(ROOT, join(ROOT, file))}:${line}`),
    );
    expect(missing).toEqual([]);
  });

  it('the scan finds events and calls in the shapes the sources use', () => {
    const text = [
      "log.info({ event: 'a_thing', serial }, 'prose');",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: source text under test, not a template.
      "this.logger.warn(\n  { event: c ? 'left' : 'right' },\n  `prose ${x}`,\n);",
      "this.logging.get('ah_cli').warn('no event here');",
      "this.options.log?.warn({ code }, 'none either');",
      "console.error('not pino');",
    ].join('\n');
    expect(eventLiterals(text).map((e) => e.name)).toEqual(['a_thing', 'left', 'right']);
    expect(callsWithoutEvent(text)).toEqual([6, 7]);
  });
});
