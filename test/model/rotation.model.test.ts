/**
 * Model-based test of the `rotation` machine on the real system: a real executor process with
 * the files identity, certificate files written by the harness, the state read from the
 * executor's own log (its rotation actor's state lines, debug level).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { allTransitions, transitionCoveringPaths } from './coverage.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAh, stopAll, tempStateDir, type Daemon } from '../helpers/cli.js';
import { createRoot, issueLeaf, type Issuer } from '../helpers/pki.js';
import { rotationModel, type RotationModelEvent } from './rotation-model.js';

const paths = transitionCoveringPaths(rotationModel);
const transitions = allTransitions(rotationModel);
const covered = new Set<string>();
const ID = 'spiffe://example.org/ah/agent/rotating';
/** A due certificate's remaining life: long enough to observe renew-due, short enough to wait out. */
const DUE_LEFT_MS = 8_000;

let root: Issuer;
beforeAll(async () => {
  root = await createRoot();
});
afterAll(async () => {
  await stopAll();
  const missing = [...transitions].filter((t) => !covered.has(t));
  process.stdout.write(
    `rotation model: ${transitions.size} transitions, ${covered.size} covered by ${paths.length} paths${missing.length ? `; not covered: ${missing.join(', ')}` : ''}\n`,
  );
  expect(missing).toEqual([]);
});

describe('rotation: every model transition on the real system', () => {
  it.concurrent.each(paths.map((p) => [p.description, p] as const))('%s', async (_name, path) => {
    const dir = join(tempStateDir('ah-rm-'), 'pki');
    mkdirSync(dir, { recursive: true });
    const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), ca: join(dir, 'ca.pem') };
    writeFileSync(files.ca, root.pem);
    // Every new certificate ends later than the last, except DUE, which ends soon on purpose.
    let generation = 0;
    const write = async (kind: 'fresh' | 'due' | 'expired' | 'bad') => {
      const now = Date.now();
      const span =
        kind === 'fresh'
          ? { notBefore: now - 1_000, notAfter: now + 600_000 + ++generation * 60_000 }
          : kind === 'due'
            ? { notBefore: now - 60_000, notAfter: now + DUE_LEFT_MS } // renewal point long past
            : { notBefore: now - 120_000, notAfter: now - 60_000 };
      const leaf = await issueLeaf(root, { uris: [ID], usage: 'client', ...span });
      const stranger = kind === 'bad' ? await issueLeaf(root, { uris: [ID], usage: 'client' }) : null;
      writeFileSync(`${files.key}.tmp`, (stranger ?? leaf).keyPem);
      writeFileSync(`${files.cert}.tmp`, leaf.certPem);
      renameSync(`${files.key}.tmp`, files.key);
      renameSync(`${files.cert}.tmp`, files.cert);
    };
    let ex: Daemon | null = null;
    const start = () => {
      // No access point: the rotation machine lives whatever the link does.
      ex = startAh([
        'agent',
        'enroll',
        '--remote-server',
        'https://127.0.0.1:1',
        '--name',
        'rotating',
        '--cert',
        files.cert,
        '--key',
        files.key,
        '--ca',
        files.ca,
        '--files-poll-interval',
        '2s',
        '--state-dir',
        tempStateDir(),
        '--log-level',
        'warn,ah_machine=debug',
      ]);
    };
    const rotationStates = () => ex!.lines.filter((l) => l.kind === 'state' && l.machine === 'rotation').map((l) => l.state as string);
    const actions: Record<RotationModelEvent, () => Promise<void>> = {
      START_WITHOUT_FILES: async () => start(),
      START_FRESH: async () => {
        await write('fresh');
        start();
      },
      START_DUE: async () => {
        await write('due');
        start();
      },
      START_EXPIRED: async () => {
        await write('expired');
        start();
      },
      WRITE_FRESH: () => write('fresh'),
      WRITE_DUE: () => write('due'),
      WRITE_EXPIRED: () => write('expired'),
      WRITE_BAD: () => write('bad'),
      LET_EXPIRE: async () => {}, // real time: the due certificate runs out
    };
    let previous = 'idle';
    try {
      for (const step of path.steps) {
        const event = step.event.type as RotationModelEvent | 'xstate.init';
        const mark = ex ? (ex as Daemon).lines.length : 0;
        if (event !== 'xstate.init') {
          await actions[event]();
          covered.add(`rotation-model.${previous} --${event}`);
        }
        const state = step.state.value as string;
        const previousState = previous;
        previous = state;
        if (state === 'idle') continue;
        await ex!.waitForLine(() => rotationStates().at(-1) === state, `rotation state ${state} after ${event}`, 20_000);
        // Refusals leave a trace: a torn set, or a certificate that ends earlier than the current one.
        if (event === 'WRITE_BAD') await ex!.waitForNewLine(mark, (l) => l.code === 'ENROLL_KEY_MISMATCH', 'the refused set');
        // A self-loop shows no new state line: the taken material shows as a MATERIAL event.
        if (event === 'WRITE_FRESH' && previousState === 'valid') {
          await ex!.waitForNewLine(
            mark,
            (l) => l.kind === 'event' && l.machine === 'rotation' && (l.event as { type: string }).type === 'MATERIAL',
            'the new material taken',
          );
        }
        if (event === 'WRITE_DUE' && state === 'valid')
          await ex!.waitForNewLine(mark, (l) => l.code === 'ENROLL_RENEWED_NOT_NEWER', 'the refused older certificate');
      }
    } finally {
      await (ex as Daemon | null)?.stop('SIGKILL');
    }
  });
});
