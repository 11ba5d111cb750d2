// Loaded with `node --import` (NODE_OPTIONS) into a process under test: appends to
// $AH_TRACE_LOADS every module URL the process resolves (ES modules) and, at exit, every
// CommonJS module it required, one per line.
import { appendFileSync, writeFileSync } from 'node:fs';
import Module, { register } from 'node:module';

const out = process.env.AH_TRACE_LOADS;
if (out) {
  writeFileSync(out, '');
  const hook = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(${JSON.stringify(out)}, resolved.url + '\\n');
  return resolved;
}`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  process.on('exit', () =>
    appendFileSync(
      out,
      Object.keys(Module._cache)
        .map((f) => `file://${f}\n`)
        .join(''),
    ),
  );
}
