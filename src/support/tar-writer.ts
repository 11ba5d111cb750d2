/**
 * A gzip'd ustar archive made in memory: regular files and the directories above them, each 0600
 * (directories 0700), owned by uid/gid 0 with no user or group name, so that unpacking it as
 * anyone gives files only that user can read. A support bundle is a few megabytes of text at
 * most; the ~60 lines here are less to trust than a dependency for it (node-tar would bring four
 * packages and a streaming API this does not need).
 *
 * Format: POSIX.1-1988 ustar (512-byte header, then the data padded to 512 bytes, then two zero
 * blocks). Names over 100 bytes are split into the header's 155-byte prefix and 100-byte name at
 * a slash.
 */
import { gzipSync } from 'node:zlib';

export interface TarEntry {
  /** Path inside the archive, `/`-separated, relative. */
  readonly name: string;
  readonly data: Buffer;
}

const BLOCK = 512;
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

function octal(value: number, width: number): string {
  // width - 1 digits and a NUL, as GNU tar and bsdtar write them.
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function splitName(name: string): { prefix: string; base: string } {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', base: name };
  for (let i = name.lastIndexOf('/'); i > 0; i = name.lastIndexOf('/', i - 1)) {
    const prefix = name.slice(0, i);
    const base = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(base) <= 100) return { prefix, base };
  }
  throw new RangeError(`name too long for a tar header: ${name}`);
}

function header(name: string, size: number, type: '0' | '5', mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const { prefix, base } = splitName(name);
  h.write(base, 0, 100, 'utf8');
  h.write(octal(type === '5' ? DIR_MODE : FILE_MODE, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(Math.floor(mtime / 1000), 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // the checksum is computed with its own field as spaces
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** The archive, uncompressed: each entry's directories first (once), then the entry. */
export function tarArchive(entries: readonly TarEntry[], mtime: number): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  for (const entry of entries) {
    const segments = entry.name.split('/');
    for (let i = 1; i < segments.length; i++) {
      const dir = `${segments.slice(0, i).join('/')}/`;
      if (dirs.has(dir)) continue;
      dirs.add(dir);
      parts.push(header(dir, 0, '5', mtime));
    }
    parts.push(header(entry.name, entry.data.length, '0', mtime), entry.data);
    const pad = (BLOCK - (entry.data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

export function tarGz(entries: readonly TarEntry[], mtime: number): Buffer {
  return gzipSync(tarArchive(entries, mtime));
}
