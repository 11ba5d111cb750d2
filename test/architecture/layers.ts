/**
 * The layers of src/, lowest first, and what each folder may import (ARCHITECTURE.md explains
 * why). `.` is src/version.ts; src/index.ts, the library's public face, is `index`.
 */
const BASE = ['.', 'util', 'errors', 'log', 'model'];

export const MAY_IMPORT: Record<string, readonly string[]> = {
  // Layer 0: no dependencies on the rest of the tree.
  '.': [],
  util: [],
  errors: [],
  log: ['util', 'errors'],
  model: ['errors'],
  // Layer 1: pure definitions.
  machines: BASE,
  x509: BASE,
  // Layer 2: I/O behind small interfaces.
  providers: [...BASE, 'x509'],
  transport: [...BASE, 'x509'],
  audit: [...BASE, 'x509'],
  metrics: [...BASE, 'audit', 'x509', 'transport'],
  // Layer 3: the I/O the machines invoke.
  actors: [...BASE, 'machines', 'x509', 'providers', 'transport', 'audit'],
  // Layer 4: the library.
  engine: [...BASE, 'machines', 'x509', 'providers', 'transport', 'actors', 'audit', 'metrics'],
  // Layer 5: tools built on the library; nothing below imports them.
  replay: [...BASE, 'machines'],
  visualize: [...BASE, 'machines', 'replay', 'engine'],
  doctor: [...BASE, 'machines', 'x509', 'providers', 'transport', 'actors', 'engine'],
  // The support bundle gathers what the other tools report.
  support: [...BASE, 'machines', 'x509', 'transport', 'engine', 'replay', 'visualize', 'doctor'],
  // Layer 6: the command line and the public API.
  cli: [...BASE, 'machines', 'x509', 'providers', 'transport', 'actors', 'audit', 'metrics', 'engine', 'replay', 'visualize', 'doctor', 'support', 'index'],
  index: [...BASE, 'machines', 'x509', 'providers', 'transport', 'actors', 'engine'],
};

export const LAYER_OF: Record<string, number> = {
  '.': 0,
  util: 0,
  errors: 0,
  log: 0,
  model: 0,
  machines: 1,
  x509: 1,
  providers: 2,
  transport: 2,
  audit: 2,
  metrics: 2,
  actors: 3,
  engine: 4,
  replay: 5,
  visualize: 5,
  doctor: 5,
  support: 5,
  cli: 6,
  index: 6,
};

export function ALLOWED(from: string, to: string, _targetFile: string): boolean {
  return (MAY_IMPORT[from] ?? []).includes(to);
}
