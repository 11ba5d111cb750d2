/**
 * @peculiar/x509 with what it needs on Node: a Reflect polyfill evaluated before it (its tsyringe
 * dependency throws at import otherwise) and Node's WebCrypto as provider. Import x509 from here.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509, webcrypto };
