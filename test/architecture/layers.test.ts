/**
 * The layering of src/ (ARCHITECTURE.md), checked on TypeScript's own reading of every import,
 * type-only imports included: no import cycle between files, and no import from a folder that a
 * folder may not use. A new folder must be placed in the table before it can be imported.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ALLOWED, LAYER_OF } from './layers.js';

const SRC = resolve(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Relative imports of each file, resolved to files under src/ (`.js` specifiers name `.ts` files). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map((i) => i.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
    graph.set(
      relative(SRC, file),
      targets.map((t) => relative(SRC, t)),
    );
  }
  return graph;
}

/** `engine/executor.ts` → `engine`; src/index.ts is `index`, the other files at the top `.`. */
const folderOf = (file: string): string => (file === 'index.ts' ? 'index' : file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');

/** Every cycle as a path of files (Tarjan's strongly connected components, more than one file or a self-import). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const on = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

describe('the layering of src/', () => {
  const graph = importGraph();

  it('places every folder in a layer', () => {
    const folders = [...new Set([...graph.keys()].map(folderOf))].sort();
    expect(folders.filter((f) => !(f in LAYER_OF))).toEqual([]);
  });

  it('has no import cycle between files', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('imports only from the folders each folder may use', () => {
    const violations: string[] = [];
    for (const [file, targets] of graph) {
      const from = folderOf(file);
      for (const target of targets) {
        const to = folderOf(target);
        if (to === from) continue;
        if (!ALLOWED(from, to, target)) violations.push(`${file} → ${target} (${from} may not import ${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('catches a back-edge and a cycle when there is one (the checker itself)', () => {
    const fake = new Map<string, string[]>([
      ['machines/a.ts', ['engine/b.ts']],
      ['engine/b.ts', ['machines/a.ts']],
    ]);
    expect(cycles(fake)).toEqual([['engine/b.ts', 'machines/a.ts']]);
    expect(ALLOWED('machines', 'engine', 'engine/b.ts')).toBe(false);
    expect(ALLOWED('engine', 'machines', 'machines/a.ts')).toBe(true);
  });
});
