/**
 * One configuration file: read, parsed as TOML 1.0 (smol-toml), with the line of every key kept,
 * so that whatever is wrong with a value later (schema, flag parser) names the file and the line.
 */
import { readFileSync, statSync } from 'node:fs';
import { parse, TomlError } from 'smol-toml';
import { configError } from './problems.js';

export interface TomlFile {
  readonly path: string;
  readonly data: Record<string, unknown>;
  /** The line (1-based) a key path was written on; a key of an inline table gives its table's line. */
  lineOf(path: readonly (string | number)[]): number | undefined;
  /** rw-r--r-- and the like. */
  readonly mode: number;
}

const BARE_OR_QUOTED = String.raw`(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')`;
const KEY_LINE = new RegExp(String.raw`^\s*(${BARE_OR_QUOTED}(?:\s*\.\s*${BARE_OR_QUOTED})*)\s*=`);
const TABLE_LINE = new RegExp(String.raw`^\s*(\[\[?)\s*(${BARE_OR_QUOTED}(?:\s*\.\s*${BARE_OR_QUOTED})*)\s*\]\]?`);

function splitKey(text: string): string[] {
  const parts = text.match(new RegExp(BARE_OR_QUOTED, 'g')) ?? [];
  return parts.map((p) => (p.startsWith('"') ? (JSON.parse(p) as string) : p.startsWith("'") ? p.slice(1, -1) : p));
}

/** Key path (joined by NUL) to line, found by reading the lines as TOML writes them. */
function keyLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  const arrayCounts = new Map<string, number>();
  let table: string[] = [];
  let inMultiline: string | null = null;
  text.split(/\r?\n/).forEach((line, index) => {
    if (inMultiline) {
      if (line.includes(inMultiline)) inMultiline = null;
      return;
    }
    const header = TABLE_LINE.exec(line);
    if (header) {
      const path = splitKey(header[2]!);
      if (header[1] === '[[') {
        const joined = path.join('\0');
        const n = arrayCounts.get(joined) ?? 0;
        arrayCounts.set(joined, n + 1);
        table = [...path, String(n)];
      } else {
        table = path;
      }
      lines.set(table.join('\0'), index + 1);
      return;
    }
    const key = KEY_LINE.exec(line);
    if (key) {
      lines.set([...table, ...splitKey(key[1]!)].join('\0'), index + 1);
      const rest = line.slice(key[0].length);
      // A multi-line string opened on this line and not closed on it.
      for (const quote of ['"""', "'''"]) {
        if (rest.split(quote).length === 2) inMultiline = quote;
      }
    }
  });
  return lines;
}

export function readTomlFile(path: string): TomlFile {
  let text: string;
  let mode: number;
  try {
    text = readFileSync(path, 'utf8');
    mode = statSync(path).mode & 0o777;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const detail = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? String(err));
    throw configError('ENROLL_CONFIG_UNREADABLE', { path, detail });
  }
  let data: Record<string, unknown>;
  try {
    data = parse(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const what = err.message.split('\n')[0]!.replace(/^Invalid TOML document:\s*/, '');
      throw configError('ENROLL_CONFIG_INVALID', { where: `${path}:${err.line}:${err.column}`, problem: `invalid TOML: ${what}` });
    }
    throw err;
  }
  const lines = keyLines(text);
  return {
    path,
    data,
    mode,
    lineOf: (keyPath) => {
      for (let n = keyPath.length; n > 0; n--) {
        const line = lines.get(keyPath.slice(0, n).map(String).join('\0'));
        if (line !== undefined) return line;
      }
      return undefined;
    },
  };
}
