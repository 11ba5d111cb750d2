/**
 * What of the identity command's stderr may reach our log: the first few non-empty lines, each
 * cut short, and never key material. A command that echoes what it got on stderr (set -x, a
 * debug flag) may print its key there: every line inside a PEM block is dropped (not only
 * private key blocks: a block cut short by a misplaced END line leaves no way to tell), so is any
 * line that names a private key, and so is a bare run of base64 long enough to be a piece of one.
 */

/** Lines of stderr kept for the log and for messages. */
export const STDERR_MAX_LINES = 5;
/** Characters kept of one line. */
export const STDERR_MAX_LINE = 200;

const BEGIN = /-----BEGIN [A-Z0-9 ]+-----/;
const END = /-----END [A-Z0-9 ]+-----/;
const BASE64_RUN = /^[A-Za-z0-9+/=]{40,}$/;

export function stderrLines(text: string): string[] {
  const kept: string[] = [];
  let inBlock = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (BEGIN.test(line)) {
      inBlock = !END.test(line.slice(line.search(BEGIN) + 1));
      continue;
    }
    if (inBlock) {
      if (END.test(line)) inBlock = false;
      continue;
    }
    if (!line || /PRIVATE KEY/i.test(line) || END.test(line) || BASE64_RUN.test(line)) continue;
    // Control characters would let a command forge lines in a terminal reading the log.
    const clean = [...line].map((ch) => (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f ? ' ' : ch)).join('');
    kept.push(clean.length > STDERR_MAX_LINE ? `${clean.slice(0, STDERR_MAX_LINE)}…` : clean);
    if (kept.length === STDERR_MAX_LINES) break;
  }
  return kept;
}
