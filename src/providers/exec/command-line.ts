/**
 * `--dynamic-cert-cmd CMD` without `--dynamic-cert-shell`: CMD is split into argv here and run
 * without a shell, so that nothing in it is expanded, globbed or redirected behind the operator's
 * back. Quoting follows the shell's words only: blanks separate words; '…' keeps everything
 * literally; "…" keeps everything but lets \" and \\ through; outside quotes \ keeps the next
 * character. A character that only means something to a shell (| & ; < > ( ) $ `) outside quotes
 * is refused with a pointer to --dynamic-cert-shell, rather than passed on as a literal argument
 * the operator did not mean.
 */

export type CommandLine = { readonly ok: true; readonly argv: string[] } | { readonly ok: false; readonly problem: string };

const SHELL_ONLY = new Set(['|', '&', ';', '<', '>', '(', ')', '$', '`']);

export function splitCommandLine(text: string): CommandLine {
  const argv: string[] = [];
  // null between words; '' is a word begun by an empty quote ('').
  let word: string | null = null;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word = `${word ?? ''}${c}`;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) word = `${word ?? ''}${text[++i]}`;
      else word = `${word ?? ''}${c}`;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n') {
      if (word !== null) argv.push(word);
      word = null;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '\\') {
      if (i + 1 >= text.length) return { ok: false, problem: 'it ends with a lone backslash' };
      word = `${word ?? ''}${text[++i]}`;
    } else if (SHELL_ONLY.has(c)) {
      return { ok: false, problem: `'${c}' means something only to a shell: add --dynamic-cert-shell, or quote it` };
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) return { ok: false, problem: `a ${quote === "'" ? 'single' : 'double'} quote is not closed` };
  if (word !== null) argv.push(word);
  if (argv.length === 0) return { ok: false, problem: 'it is empty' };
  return { ok: true, argv };
}

/**
 * The program as typed: what messages name. Not the arguments, nor a shell command's leading
 * `NAME=value` assignments: those may hold tokens.
 */
export function programOf(text: string): string {
  const split = splitCommandLine(text);
  const words = split.ok ? split.argv : text.trim().split(/\s+/);
  return words.find((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) ?? '(empty)';
}
