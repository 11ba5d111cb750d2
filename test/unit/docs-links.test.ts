/**
 * The code stands on its own: comments cite only documents that are in the repository. Every
 * `docs/<page>.md` a comment names must exist, with the `§<section>` it names as a heading; a bare
 * `§<section>` must be a heading of a docs page the same file cites; a numbered `§1.5` must say
 * whose section it is (`RFC 5280 §4.2.1.3`); and the design notes the code was first written from,
 * which live outside the repository, are never cited again. The facts those notes held that the
 * code relies on are in docs/ (docs/README.md lists the pages).
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DOCS = join(ROOT, 'docs');
const SCANNED_DIRS = ['src', 'test', 'bench'];
const SCANNED_FILES = ['README.md'];
const TEXT = /\.(ts|mts|cts|js|mjs|cjs|proto|md|json|ya?ml|sh)$/;

// Spelled in pieces so that this file does not cite them either.
const EXTERNAL = ['components', 'product', 'toolchain', 'BASELINES'].map((name) => `${name}.md`);
const EXTERNAL_PATH = /\bshared\/(spec|notes|bench)\//;

/** Headings of a docs page, as written and without backticks. */
function headingsOf(page: string): string[] {
  const text = readFileSync(join(DOCS, page), 'utf8');
  return [...text.matchAll(/^#{2,6} +(.+?) *$/gm)].flatMap((m) => [m[1]!, m[1]!.replace(/`/g, '')]);
}

/** GitHub's anchor for a heading. */
const slug = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

/** The file's text with comment leaders gone and lines joined, so a reference may wrap. */
function flatten(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/^\s*(\/\*\*?|\*\/|\*|\/\/)\s?/, ''))
    .join(' ')
    .replace(/\s+/g, ' ');
}

/** Does `rest` start with one of `headings`, ending at a word boundary? */
function startsWithHeading(rest: string, headings: string[]): boolean {
  return headings.some((h) => rest.startsWith(h) && !/^[\p{L}\p{N}]/u.test(rest.slice(h.length)));
}

/** Everything wrong with the citations in one file (path relative to the repository). */
function citationProblems(path: string, text: string, pages: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const name of EXTERNAL) {
    if (new RegExp(`(^|[^\\w/-])${name.replace('.', '\\.')}`).test(text)) problems.push(`${path}: cites ${name}, which is not in the repository`);
  }
  if (EXTERNAL_PATH.test(text)) problems.push(`${path}: cites a path outside the repository (${EXTERNAL_PATH.exec(text)![0]})`);

  const flat = flatten(text);
  const cited = new Set<string>();
  for (const m of flat.matchAll(/\bdocs\/([\w.-]+\.md)(?: §([^§]*))?/g)) {
    const page = m[1]!;
    if (!pages.has(page)) {
      problems.push(`${path}: cites docs/${page}, which does not exist`);
      continue;
    }
    cited.add(page);
    if (m[2] !== undefined && !startsWithHeading(m[2], headingsOf(page))) {
      problems.push(`${path}: docs/${page} has no section "${m[2].slice(0, 40)}…"`);
    }
  }
  const citedHeadings = [...cited].flatMap(headingsOf);
  // `§` right after a page name belongs to that page: docs/ pages are checked above, other
  // documents of the repository (`CONTRIBUTING.md §…`) are theirs to keep.
  for (const m of flat.matchAll(/(?<![\w./-]+\.md )§(\S[^§]*)/g)) {
    const rest = m[1]!;
    if (/^\d/.test(rest)) {
      // A numbered section needs its document named right before it (`RFC 5280 §4.2.1.3`).
      const before = flat.slice(0, m.index).trimEnd();
      if (before === '' || /[(,;:]$|\band$/.test(before)) {
        problems.push(`${path}: "§${rest.slice(0, 12)}" does not say which document it is a section of`);
      }
      continue;
    }
    if (!startsWithHeading(rest, citedHeadings)) {
      problems.push(`${path}: "§${rest.slice(0, 40)}…" is not a section of a docs page this file cites (${[...cited].join(', ') || 'none'})`);
    }
  }
  // Relative links in Markdown must land on a file.
  if (path.endsWith('.md')) {
    for (const m of text.matchAll(/\]\(([^)#\s]+\.md)(#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(m[1]!)) continue;
      if (!existsSync(resolve(ROOT, dirname(path), m[1]!))) problems.push(`${path}: link to ${m[1]} goes nowhere`);
    }
  }
  return problems;
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : filesUnder(rel);
    return TEXT.test(e.name) ? [rel] : [];
  });
}

const pages = new Set(readdirSync(DOCS).filter((f) => f.endsWith('.md')));
/** This file spells out bad citations on purpose, to show the check catches them. */
const SELF = relative(ROOT, fileURLToPath(import.meta.url));

describe('the code cites only what is in the repository', () => {
  it('no file under src/, test/, bench/ or the README cites a missing document or section', () => {
    const files = [...SCANNED_DIRS.flatMap(filesUnder), ...SCANNED_FILES.filter((f) => existsSync(join(ROOT, f)))].filter((f) => f !== SELF);
    expect(files.length).toBeGreaterThan(100);
    const problems = files.flatMap((f) => citationProblems(f, readFileSync(join(ROOT, f), 'utf8'), pages));
    expect(problems).toEqual([]);
  });

  it('the docs pages link to pages and anchors that exist, and the index lists every page', () => {
    const problems: string[] = [];
    for (const page of pages) {
      const text = readFileSync(join(DOCS, page), 'utf8');
      const anchors = new Set(headingsOf(page).map(slug));
      for (const m of text.matchAll(/\]\(([^)\s]*)\)/g)) {
        const [file, anchor] = m[1]!.split('#') as [string, string | undefined];
        if (/^[a-z]+:/.test(file)) continue;
        if (file && !existsSync(join(DOCS, file))) problems.push(`docs/${page}: link to ${file} goes nowhere`);
        const target = file ? new Set(existsSync(join(DOCS, file)) ? headingsOf(file).map(slug) : []) : anchors;
        if (anchor !== undefined && !target.has(anchor)) problems.push(`docs/${page}: no heading for #${anchor}`);
      }
    }
    const index = readFileSync(join(DOCS, 'README.md'), 'utf8');
    for (const page of pages) if (page !== 'README.md' && !index.includes(`](${page})`)) problems.push(`docs/README.md does not list ${page}`);
    expect(problems).toEqual([]);
  });

  it('the check itself catches each kind of bad citation', () => {
    const external = `${'components'}.md`;
    const cases: Array<[string, RegExp]> = [
      [`// as ${external} §1.5 says`, /cites components\.md/],
      [`// see ../../${['shared', 'spec', 'guide.md'].join('/')}`, /outside the repository/],
      ['// see docs/no-such-page.md', /docs\/no-such-page\.md, which does not exist/],
      ['// see docs/workload-api.md §Flux capacitor', /has no section "Flux capacitor/],
      ['// (docs/workload-api.md §Status codes) and later (§Streams) and (§Nowhere)', /"§Nowhere\)…" is not a section of a docs page this file cites/],
      ['// the full state (§1.5)', /"§1\.5\)" does not say which document/],
    ];
    for (const [text, expected] of cases) {
      const problems = citationProblems('src/example.ts', text, pages);
      expect(problems, text).toHaveLength(1);
      expect(problems[0], text).toMatch(expected);
    }
    // What must pass: a wrapped reference, a numbered section with its document, a bare section of a cited page.
    const good = '/**\n * (docs/workload-api.md §grpc-js over\n * unix sockets), RFC 5280 §4.2.1.3, then (§Streams).\n */';
    expect(citationProblems('src/example.ts', good, pages)).toEqual([]);
  });
});
