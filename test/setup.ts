// @peculiar/x509 2.x needs a Reflect polyfill before it is imported (docs/toolchain-notes.md
// §@peculiar/x509 needs reflect-metadata).
import 'reflect-metadata';
