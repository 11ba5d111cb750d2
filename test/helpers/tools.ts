/**
 * Programs some tests need (the list and their Debian packages: scripts/test-tools.json, installed
 * before `npm test` where the machine allows it). A test whose program is missing says so in one
 * line and is skipped; under CI=true it runs and fails at once with that line, since CI must test
 * everything.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

export type Tool = 'faketime' | 'promtool' | 'chromium' | 'script' | 'systemd-analyze' | 'openssl' | 'etcd';

interface ToolInfo {
  tool: Tool;
  packages: string[];
  for: string;
}

const TOOLS: ToolInfo[] = (JSON.parse(readFileSync(resolve(import.meta.dirname, '../../scripts', 'test-tools.json'), 'utf8')) as { tools: ToolInfo[] }).tools;
/** CI=true (or any value but false/0), as CI services set it. */
const inCi = () => Boolean(process.env.CI) && !['false', '0'].includes(process.env.CI!);

/** The program's path on PATH, or null. */
export function toolPath(tool: Tool): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir || '.', tool);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

function missingLine(tool: Tool): string {
  const info = TOOLS.find((t) => t.tool === tool);
  if (!info) throw new Error(`${tool} is not listed in scripts/test-tools.json`);
  return `${tool} not found (Debian package ${info.packages.join(' + ')}), needed for ${info.for}`;
}

const told = new Set<Tool>();

/**
 * For `describe.skipIf(skipWithout('faketime'))` / `it.skipIf(...)`: true when the program is
 * missing outside CI, after one line saying so. Under CI it is false, and `requireTool` fails.
 */
export function skipWithout(tool: Tool): boolean {
  if (toolPath(tool)) return false;
  if (!told.has(tool)) {
    told.add(tool);
    process.stderr.write(`${missingLine(tool)}: ${inCi() ? 'the tests that need it fail (CI=true)' : 'skipping the tests that need it'}\n`);
  }
  return !inCi();
}

/** Throws the one line when the program is missing (where a test is about to run it). */
export function requireTool(tool: Tool): string {
  const path = toolPath(tool);
  if (!path) throw new Error(missingLine(tool));
  return path;
}
