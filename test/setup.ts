// @peculiar/x509 2.x needs a Reflect polyfill before it is imported (toolchain.md §1.3).
import 'reflect-metadata';
