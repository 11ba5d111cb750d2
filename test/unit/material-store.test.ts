/**
 * The material store: offered material is findable at once but becomes the current identity only
 * when accepted, and a run of offers (refused older certificates) never pushes accepted material
 * out of reach of the links that use it.
 */
import { describe, expect, it } from 'vitest';
import { MaterialStore } from '../../src/actors/material-store.js';
import type { IdentityMaterial } from '../../src/providers/identity-provider.js';
import { identity } from '../helpers/machine-harness.js';

const material = (n: number, bundlePem: string | null = null): IdentityMaterial => ({
  certPem: `cert ${n}`,
  keyPem: `key ${n}`,
  bundlePem,
  summary: identity(n, 0, 10_000),
});

describe('MaterialStore', () => {
  it('offered material is findable but not current until accepted', () => {
    const store = new MaterialStore();
    store.put(material(1));
    store.accept('fp-1');
    store.put(material(2));
    expect(store.get('fp-2').certPem).toBe('cert 2');
    expect(store.current?.summary.serial).toBe('01');
    store.accept('fp-2');
    expect(store.current?.summary.serial).toBe('02');
  });

  it('offers that are never accepted do not evict the accepted material', () => {
    const store = new MaterialStore(2);
    store.put(material(1));
    store.accept('fp-1');
    for (let n = 2; n < 10; n++) store.put(material(n));
    expect(store.get('fp-1').certPem).toBe('cert 1');
    expect(store.current?.summary.serial).toBe('01');
    expect(() => store.get('fp-2')).toThrow(/no identity material/);
  });

  it('a new trust bundle for the current certificate updates it in place and says so', () => {
    const store = new MaterialStore();
    const changed: string[] = [];
    store.on('bundleChanged', (m) => changed.push(m.bundlePem!));
    store.put(material(1, 'ca A'));
    store.accept('fp-1');
    store.put(material(1, 'ca B'));
    expect(changed).toEqual(['ca B']);
    expect(store.current?.bundlePem).toBe('ca B');
    expect(store.get('fp-1').bundlePem).toBe('ca B');
  });
});
