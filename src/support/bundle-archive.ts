/**
 * The support bundle being made: its files, what each holds, and what could not be gathered and
 * why. `add` is the only way in, and it redacts, so nothing reaches the archive around the
 * redaction step; the README is written last, from the same lists, and redacted too.
 */
import { redact, REDACTION_RULES } from './redact.js';
import { tarGz, type TarEntry } from './tar-writer.js';

export interface BundleItem {
  readonly path: string;
  readonly what: string;
}

export interface MissingItem {
  readonly what: string;
  readonly why: string;
}

export class BundleArchive {
  private readonly files = new Map<string, string>();
  readonly items: BundleItem[] = [];
  readonly missing: MissingItem[] = [];

  constructor(
    /** The archive's top directory, e.g. `ah-support-20260130T120000Z`. */
    readonly root: string,
    readonly createdAt: number,
  ) {}

  /** A file, redacted; `what` is its line in the README. */
  add(path: string, text: string, what: string): void {
    if (this.files.has(path)) throw new Error(`support bundle: ${path} added twice`);
    this.files.set(path, redact(text));
    this.items.push({ path, what });
  }

  addJson(path: string, value: unknown, what: string): void {
    this.add(path, `${JSON.stringify(value, null, 2)}\n`, what);
  }

  /** Something the bundle should hold but does not: said in the README with the reason. */
  miss(what: string, why: string): void {
    this.missing.push({ what, why });
  }

  has(path: string): boolean {
    return this.files.has(path);
  }

  /** The gzip'd tar, README first. */
  toTarGz(readme: (items: readonly BundleItem[], missing: readonly MissingItem[], rules: readonly string[]) => string): Buffer {
    const entries: TarEntry[] = [{ name: `${this.root}/README.txt`, data: Buffer.from(redact(readme(this.items, this.missing, REDACTION_RULES))) }];
    for (const [path, text] of this.files) entries.push({ name: `${this.root}/${path}`, data: Buffer.from(text) });
    return tarGz(entries, this.createdAt);
  }
}
