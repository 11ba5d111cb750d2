/**
 * A log file (or stdin) as numbered lines, read in large chunks and split by hand: a log of a
 * million events is a quarter of a gigabyte, and readline's per-line cost (or decoding whole chunks
 * to strings and slicing those) would cost more than the JSON parsing. Lines are found in the raw
 * bytes (newline is one byte in UTF-8), decoded one by one, handed over and never kept.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';

export type LineSink = (text: string, line: number) => void;

export interface LineCount {
  readonly lines: number;
  /** The last line had no newline: the log may have been cut while being written. */
  readonly unterminated: boolean;
}

const NEWLINE = 0x0a;

export async function readLines(input: string | Readable, sink: LineSink): Promise<LineCount> {
  const stream = typeof input === 'string' ? createReadStream(input, { highWaterMark: 1 << 20 }) : input;
  let rest: Buffer | null = null;
  let line = 0;
  for await (const piece of stream as AsyncIterable<Buffer | string>) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    const buf: Buffer = rest ? Buffer.concat([rest, chunk]) : chunk;
    let from = 0;
    for (let nl = buf.indexOf(NEWLINE, from); nl !== -1; nl = buf.indexOf(NEWLINE, from)) {
      sink(buf.toString('utf8', from, nl), ++line);
      from = nl + 1;
    }
    rest = from < buf.length ? buf.subarray(from) : null;
  }
  if (rest) sink(rest.toString('utf8'), ++line);
  return { lines: line, unterminated: rest !== null };
}

/** The same over text already in memory (tests, the live view). */
export function splitLines(text: string, sink: LineSink): LineCount {
  let line = 0;
  let from = 0;
  for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', from)) {
    sink(text.slice(from, nl), ++line);
    from = nl + 1;
  }
  const unterminated = from < text.length;
  if (unterminated) sink(text.slice(from), ++line);
  return { lines: line, unterminated };
}
