/**
 * DOT to SVG with Graphviz compiled to WebAssembly (@viz-js/viz): no Debian graphviz, no network.
 * The SVG is inlined into HTML, so its XML prolog and DOCTYPE go.
 */
import { instance, type Viz } from '@viz-js/viz';

let viz: Promise<Viz> | null = null;

export async function renderSvg(dot: string): Promise<string> {
  viz ??= instance();
  const svg = (await viz).renderString(dot, { format: 'svg', engine: 'dot' });
  return svg
    .replace(/^<\?xml[^>]*>\s*/, '')
    .replace(/<!DOCTYPE[^>]*>\s*/, '')
    .replace(/<!--[\s\S]*?-->\s*/g, '');
}
