// @peculiar/x509 2.x needs a Reflect polyfill before it is imported (docs/toolchain-notes.md
// §@peculiar/x509 needs reflect-metadata).
import 'reflect-metadata';
import { afterAll } from 'vitest';
import { endAll } from './helpers/processes.js';

// Whatever a test file's outcome, the processes it started end with it (their groups included).
afterAll(endAll);
