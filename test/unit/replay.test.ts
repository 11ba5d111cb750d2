/**
 * Replay's parts on their own: line classification, `--at`, and the stuck rules on logs the real
 * machines write in-process (renewal due with no new material, a renewal that keeps failing, an
 * expired certificate), where a real run would take minutes or a sealed Vault.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise } from 'xstate';
import { renderMessage } from '../../src/errors/catalog.js';
import { LinkHeartbeats } from '../../src/actors/link-heartbeats.js';
import { enrollmentMachine } from '../../src/machines/enrollment.js';
import type { LinkCommand, LinkInput } from '../../src/machines/enrollment-types.js';
import { rotationMachine } from '../../src/machines/rotation.js';
import { classifyLine, LogLineError } from '../../src/replay/log-record.js';
import { replayText } from '../../src/replay/replay-log.js';
import { renderText } from '../../src/replay/report-text.js';
import { parseTimeQuery, resolveTimeQuery } from '../../src/replay/time-query.js';
import { advance } from '../helpers/clock.js';
import { identity, MachineRecorder, settle } from '../helpers/machine-recorder.js';

const LINE =
  '{"level":20,"levelName":"debug","time":1795974185264,"pid":5825,"component":"ah_machine","kind":"state","actor":"link-1","machine":"connection","state":"accepted","value":"accepted","event":"xstate.init","msg":"x"}';

describe('log lines', () => {
  it('reads plain, journalctl -o short / short-precise / json lines alike, and classifies the rest', () => {
    for (const text of [
      LINE,
      `Nov 29 16:20:01 host ah[5825]: ${LINE}`,
      `Nov 29 16:20:01.123456 host ah[5825]: ${LINE}`,
      JSON.stringify({ MESSAGE: LINE, _PID: '5825' }),
    ]) {
      const c = classifyLine(text, 7);
      expect(c.kind, text).toBe('machine');
      expect(c.kind === 'machine' && c.record).toMatchObject({ kind: 'state', line: 7, actor: 'link-1', value: 'accepted', time: 1795974185264 });
    }
    // Another component's line: not replayed, but its time says how far the log goes.
    expect(classifyLine(LINE.replace('ah_machine', 'ah_executor'), 1)).toEqual({ kind: 'other', time: 1795974185264 });
    expect(classifyLine(`Nov 29 16:20:01 host ah[5825]: ${LINE.replace('ah_machine', 'ah_transport')}`, 1)).toEqual({ kind: 'other', time: 1795974185264 });
    expect(classifyLine('{"level":30,"component":"ah_executor","msg":"no time"}', 1)).toEqual({ kind: 'other', time: null });
    expect(classifyLine('Nov 29 16:20:01 host systemd[1]: Started ah-executor.service.', 1).kind).toBe('foreign');
    expect(classifyLine('{"some":"other json"}', 1).kind).toBe('foreign');
    expect(classifyLine(`${LINE}\r`, 1).kind).toBe('machine');
  });

  it('names the line of anything that looks like ours but cannot be read', () => {
    const bad: Array<[string, RegExp]> = [
      [LINE.slice(0, 80), /^line 3: line cut short/],
      ['{not json', /^line 3: not valid JSON/],
      [LINE.replace('"value":"accepted"', '"value":[1]'), /^line 3: machine state line with an invalid "value"/],
      [LINE.replace('"time":1795974185264,', ''), /^line 3: machine log line without a valid "time"/],
      [LINE.replace('"kind":"state"', '"kind":"event"'), /^line 3: machine log line without a valid "source"/],
    ];
    for (const [text, says] of bad) {
      let thrown: unknown;
      try {
        classifyLine(text, 3);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, text).toBeInstanceOf(LogLineError);
      expect((thrown as Error).message).toMatch(says);
    }
  });

  it('--at: ISO, epoch, an offset into the log, or a clock time on the day the log starts', () => {
    const start = Date.parse('2026-11-29T16:20:00.000Z');
    expect(resolveTimeQuery(parseTimeQuery('2026-11-29T16:20:05.5Z'), start)).toBe(start + 5_500);
    expect(resolveTimeQuery(parseTimeQuery(String(start + 10)), start)).toBe(start + 10);
    expect(resolveTimeQuery(parseTimeQuery('+1m30s'), start)).toBe(start + 90_000);
    const local = new Date(start);
    const clock = `${String(local.getHours()).padStart(2, '0')}:${String(local.getMinutes()).padStart(2, '0')}:07`;
    expect(resolveTimeQuery(parseTimeQuery(clock), start)).toBe(start + 7_000);
    expect(() => parseTimeQuery('yesterday')).toThrow(/invalid time 'yesterday'/);
    expect(() => parseTimeQuery('25:00')).toThrow(/invalid time of day/);
  });
});

/**
 * An executor whose links are welcomed at once (synchronously, as they are spawned: the log then
 * holds the welcome before the state line of the step that opened the link) and whose heartbeats
 * (the real LinkHeartbeats on the recorder's clock) are acked at once, each with the link's
 * `heartbeat_acked` line as the engine writes it: the log goes on while nothing else happens.
 */
function executor(rec: MachineRecorder, opts: { canIssue: boolean; provider: string; lifetimeMs: number; renew?: () => Promise<never> }) {
  const fleetLink = fromCallback<LinkCommand, LinkInput>(({ input, sendBack }) => {
    const log = rec.transport.child({ link: input.linkId });
    const beats = new LinkHeartbeats(rec.clock, {
      send: (seq) => {
        beats.acked(seq, rec.now());
        log.debug({ event: 'heartbeat_acked', seq }, `heartbeat ${seq} acknowledged`);
      },
      lost: () => {},
    });
    beats.start(1_250, rec.now());
    sendBack({
      type: 'LINK_WELCOMED',
      linkId: input.linkId,
      executorId: 'spiffe://example.org/ah/agent/x',
      // A heartbeat every second (0.8 of the interval): the log's last line, the replay's "now",
      // then falls on the whole seconds the expectations below count from.
      heartbeatIntervalMs: 1_250,
      serverTime: rec.now(),
      at: rec.now(),
    });
    return () => beats.stop();
  });
  const rotation = rotationMachine.provide({
    actors: {
      watchIdentity: fromCallback(({ sendBack }) => {
        sendBack({ type: 'MATERIAL', identity: identity('A1', rec.now(), opts.lifetimeMs, opts.provider), observedAt: rec.now() });
      }),
      renewIdentity: fromPromise((opts.renew ?? (() => new Promise<never>(() => {}))) as () => Promise<never>) as never,
    },
  });
  const actor = createActor(enrollmentMachine.provide({ actors: { rotation, fleetLink } }), {
    clock: rec.clock,
    input: {
      name: 'x',
      remoteServer: '127.0.0.1:4433',
      connectTimeoutMs: 30_000,
      connectTimeoutLabel: '30s',
      maxAttempts: 0,
      seed: 12345,
      rotation: { provider: opts.provider, canIssue: opts.canIssue, threshold: 0.5, jitter: 0 },
    },
    inspect: rec.inspector('executor:x'),
  });
  actor.start();
  return actor;
}

async function run(rec: MachineRecorder, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 500) {
    advance(rec.clock, 500);
    await settle();
  }
}

describe('stuck diagnosis on machine logs', () => {
  it('files never replaced: renewal due without new material, then expired', async () => {
    const rec = new MachineRecorder();
    const actor = executor(rec, { canIssue: false, provider: 'files', lifetimeMs: 60_000 });
    await run(rec, 40_000);
    // The renewal point is the rotation's own timer: its event is logged as from `self`.
    const timers = rec
      .text()
      .split('\n')
      .filter((l) => l.includes('"kind":"event"') && l.includes('"source":"self"'))
      .map((l) => JSON.parse(l) as { actor: string });
    expect(timers.map((t) => t.actor)).toContain('executor:x/rotation');
    let r = replayText(rec.text());
    expect(r.mismatches).toBe(0);
    expect(r.actors.map((a) => [a.actor, a.steps.at(-1)!.state])).toEqual([
      ['executor:x', 'enrolled'],
      ['executor:x/rotation', 'renew-due'],
    ]);
    expect(r.diagnoses).toHaveLength(1);
    const d = r.diagnoses[0]!;
    expect(d).toMatchObject({ actor: 'executor:x/rotation', kind: 'renew-due-without-material', error: { code: 'ENROLL_RENEWAL_OVERDUE' } });
    expect(d.error.params).toEqual({ serial: 'A1', renewAt: new Date(rec.base + 30_000).toISOString(), left: '20s' });
    expect(d.summary).toBe(
      `renewal due for 10s and no new material from the files provider; the certificate expires at ${new Date(rec.base + 60_000).toISOString()}`,
    );
    const text = renderText(r, 'x.log');
    expect(text).toContain(`error: ${renderMessage('ENROLL_RENEWAL_OVERDUE', d.error.params)}`);
    expect(text).toContain('Files provider: ensure file watching is working — trigger an inotify event with touch /etc/ah/cert.pem');

    await run(rec, 25_000);
    actor.stop();
    r = replayText(rec.text());
    expect(r.mismatches).toBe(0);
    // Said once, by the executor: its rotation expired for the same reason.
    expect(r.diagnoses.map((x) => [x.actor, x.kind, x.error.code])).toEqual([['executor:x', 'expired', 'ENROLL_CERT_NOT_VALID_NOW']]);
    expect(renderText(r, 'x.log')).toContain('error: certificate has expired or is not yet valid');
  });

  it('a renewal that keeps failing (Vault sealed): renewing too long, with the renewal error', async () => {
    const rec = new MachineRecorder();
    const sealed = () => Promise.reject({ code: 'ENROLL_VAULT_SEALED', params: {}, retryable: true });
    const actor = executor(rec, { canIssue: true, provider: 'vault', lifetimeMs: 60_000, renew: sealed });
    await run(rec, 38_000);
    actor.stop();
    const r = replayText(rec.text());
    expect(r.mismatches).toBe(0);
    const rotation = r.actors.find((a) => a.actor === 'executor:x/rotation')!;
    expect(rotation.steps.filter((s) => s.event === 'xstate.error.actor.renew').length).toBeGreaterThanOrEqual(2);
    // The executor and its rotation are stuck for the same reason: said once, by the executor.
    expect(r.diagnoses).toHaveLength(1);
    const d = r.diagnoses[0]!;
    expect(d).toMatchObject({
      actor: 'executor:x',
      state: 'renewing.obtaining',
      kind: 'renewing-too-long',
      error: { code: 'ENROLL_VAULT_SEALED', params: {} },
    });
    expect(d.summary).toBe('renewing for 8s; the old link carries on meanwhile');
    expect(renderText(r, 'x.log')).toContain('error: vault is sealed\n  Possible causes:\n    1. Vault was restarted and not unsealed');
  });

  it('a state line missing at the very end is shown as rebuilt; one missing further back is a mismatch', async () => {
    const rec = new MachineRecorder();
    const actor = executor(rec, { canIssue: false, provider: 'files', lifetimeMs: 60_000 });
    await run(rec, 5_000);
    actor.stop();
    const lines = rec.text().split('\n');
    const enrolled = lines.findIndex((l) => l.includes('"kind":"state"') && l.includes('"value":"enrolled"'));

    // Copied while being written: the log ends right after the event, before its state line.
    const tail = `${lines.slice(0, enrolled).join('\n')}\n`;
    let r = replayText(tail);
    expect(r.mismatches).toBe(0);
    const a = r.actors.find((x) => x.actor === 'executor:x')!;
    expect(a.unconfirmed).toEqual([{ line: expect.any(Number), event: 'LINK_WELCOMED', rebuilt: 'enrolled' }]);
    expect(a.steps.at(-1)!.value).toBe('enrolled');
    expect(renderText(r, 'x.log')).toContain(
      `(line ${a.unconfirmed[0]!.line}: the log ends before the state line of LINK_WELCOMED; shown as rebuilt: enrolled)`,
    );

    // Deleted with five seconds of heartbeats after it: that is a disagreement.
    r = replayText(lines.filter((_, i) => i !== enrolled).join('\n'));
    expect(r.mismatches).toBe(1);
    expect(r.actors.find((x) => x.actor === 'executor:x')!.mismatches[0]).toMatchObject({
      kind: 'missing-state-line',
      event: 'LINK_WELCOMED',
      rebuilt: 'enrolled',
      logged: null,
    });
  });

  it('a log cut with --at: the states and diagnosis as of then, and no complaint about the cut', async () => {
    const rec = new MachineRecorder();
    const actor = executor(rec, { canIssue: false, provider: 'files', lifetimeMs: 60_000 });
    await run(rec, 40_000);
    actor.stop();
    const r = replayText(rec.text(), { at: { kind: 'offset', ms: 20_000 } });
    expect(r.at).toBe(rec.base + 20_000);
    expect(r.mismatches).toBe(0);
    expect(r.actors.map((a) => a.steps.at(-1)!.state)).toEqual(['enrolled', 'valid']);
    expect(r.diagnoses).toEqual([]);
  });
});
