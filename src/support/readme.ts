/** The bundle's README.txt: what it is, what each file holds, what is missing and why, what was redacted. */
import type { BundleItem, MissingItem } from './bundle-archive.js';

export interface ReadmeFacts {
  readonly createdAt: number;
  readonly since: number;
  readonly stateDir: string;
  readonly version: string;
}

export function renderReadme(facts: ReadmeFacts, items: readonly BundleItem[], missing: readonly MissingItem[], rules: readonly string[]): string {
  const width = Math.max(...items.map((i) => i.path.length), 10);
  const lines = [
    'ah support bundle',
    '',
    `Made by ah ${facts.version} at ${new Date(facts.createdAt).toISOString()} for the daemons of the state dir ${facts.stateDir},`,
    `with logs since ${new Date(facts.since).toISOString()}. Attach it to a support request with the exact error message.`,
    '',
    'Contents:',
    ...items.map((i) => `  ${i.path.padEnd(width)}  ${i.what}`),
    '',
    'Not in this bundle:',
    ...(missing.length ? missing.map((m) => `  - ${m.what}: ${m.why}`) : ['  (nothing: every part was gathered)']),
    '',
    'Redacted: every file (this one too) went through one redaction step before it was written. It replaces with [redacted]:',
    ...rules.map((r) => `  - ${r}`),
    'Read it before you send it: a secret in a shape these rules do not know would still be there.',
    '',
  ];
  return lines.join('\n');
}
