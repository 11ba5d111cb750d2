/**
 * A human rendering of our JSON log lines for terminals: `time LEVEL component message key=value`.
 * journald and files get the JSON untouched.
 */
const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
const SKIP = new Set(['level', 'levelName', 'time', 'pid', 'hostname', 'msg', 'component']);

export function prettyLine(json: string, color: boolean): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const level = Number(rec.level);
  const time = new Date(Number(rec.time)).toISOString().slice(11, 23);
  const name = (LEVEL_NAMES[level] ?? String(level)).padEnd(5);
  const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const fields = Object.entries(rec)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${paint('90', time)} ${paint(LEVEL_COLORS[level] ?? '0', name)} ${paint('90', String(rec.component ?? ''))} ${rec.msg ?? ''}${fields ? ` ${paint('90', fields)}` : ''}`;
}

/** A pino destination that prints pretty lines on `out`. */
export function prettyDestination(out: NodeJS.WritableStream & { isTTY?: boolean }) {
  const color = Boolean(out.isTTY) && !process.env.NO_COLOR;
  return {
    write(chunk: string): void {
      for (const line of chunk.split('\n')) if (line) out.write(`${prettyLine(line, color)}\n`);
    },
  };
}
