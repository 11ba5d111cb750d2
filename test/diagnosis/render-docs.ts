/**
 * docs/diagnosis.md and the README's diagnosis section, rendered from the diagnosis table. The
 * docs test compares the committed files with this rendering; `npm run docs:diagnosis` rewrites
 * them.
 */
import { catalog } from '../../src/errors/catalog.js';
import { DIAGNOSIS_ROWS, type DiagnosisRow } from './diagnosis-table.js';

export const README_START = '<!-- diagnosis:start (generated from test/diagnosis/diagnosis-table.ts by npm run docs:diagnosis) -->';
export const README_END = '<!-- diagnosis:end -->';

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const says = (r: DiagnosisRow) => `\`error: ${r.guideLine ?? catalog[r.code].message}\``;

function table(rows: readonly DiagnosisRow[], withCheck: boolean): string[] {
  const head = withCheck
    ? ['| Symptom | First failing check | What the doctor says | Fix | How the test makes it |', '|---|---|---|---|---|']
    : ['| Symptom | What the doctor says | Fix |', '|---|---|---|'];
  return [
    ...head,
    ...rows.map((r) =>
      withCheck
        ? `| ${cell(r.symptom)} | \`${r.check}\` | ${cell(says(r))} (${r.code}) | ${cell(r.fix)} | ${cell(r.fault)} |`
        : `| ${cell(r.symptom)} | ${cell(says(r))} | ${cell(r.fix)} |`,
    ),
  ];
}

export function renderDiagnosisPage(): string {
  const executor = DIAGNOSIS_ROWS.filter((r) => r.side === 'executor');
  const accessPoint = DIAGNOSIS_ROWS.filter((r) => r.side === 'access-point');
  return [
    '# Diagnosis: what `ah agent doctor` says for each fault of the guide',
    '',
    '<!-- Generated from test/diagnosis/diagnosis-table.ts by `npm run docs:diagnosis`; test/unit/diagnosis-docs.test.ts fails when this file differs. -->',
    '',
    'Each row below is a fault of the enrollment troubleshooting guide, made for real by',
    '`test/cli/doctor-matrix.test.ts` (certificates minted for it, files on disk, access points, a fake',
    'SPIRE agent and a fake Vault, clocks moved with faketime, a second uid). For each, the test checks',
    "that the doctor's first failing check is the one named here and carries the guide's message, and",
    'that `ah agent enroll --max-attempts 1` (or `ah agent access-point`) prints the same first line.',
    '',
    '## Executor side: `ah agent doctor --remote-server URL …` (the flags of `ah agent enroll`)',
    '',
    ...table(executor, true),
    '',
    '## Access point side: `ah agent doctor --access-point …` (the flags of `ah agent access-point`)',
    '',
    ...table(accessPoint, true),
    '',
    '## The fleet: `ah agent doctor --fleet`',
    '',
    'Against the running access point of `--state-dir` (through its status socket), for every',
    'connected executor and the last hour of the access point:',
    '',
    '| Finding | Severity | Message | Fix |',
    '|---|---|---|---|',
    `| Certificate past its renewal point (\`--renewal-threshold\`, 0.7) | error | \`${catalog.ENROLL_FLEET_RENEWAL_OVERDUE.message}\` | Rotation is not happening: \`ah agent status --show-cert\` on the executor, check its provider |`,
    `| Certificate expiring within \`--expiring-within\` (24h) | warning | \`${catalog.ENROLL_FLEET_EXPIRING.message}\` | Renew earlier (\`--vault-renewal-threshold 0.5\`), longer TTLs |`,
    `| Heartbeats show clock skew beyond \`--clock-skew-threshold\` (5s) | error | \`${catalog.ENROLL_FLEET_CLOCK_SKEW.message}\` | Sync the executor's time (\`systemd-timesyncd\`) |`,
    `| Rejected enrollments, grouped by code, top addresses (audit log when there is one) | warning | \`${catalog.ENROLL_FLEET_REJECTIONS.message}\` | Run the doctor on one of those executors; firewall what should not be there |`,
    `| Two holders of one identity | error | \`${catalog.ENROLL_FLEET_DUPLICATE_IDENTITY.message}\` | Give each executor its own identity |`,
    `| More than \`--max-reconnects\` (5) reconnects in the last hour | warning | \`${catalog.ENROLL_FLEET_FLAPPING.message}\` | Find why the link drops (\`journalctl -u ah-executor\`) |`,
    '',
    '`--json` prints `{stateDir, executors, rejectionsFrom, findings:[{severity, kind, code, params, message, guideSection, solutions}], summary, ok}`;',
    'the exit code is 1 when any finding is an error.',
    '',
  ].join('\n');
}

export function renderReadmeSection(): string {
  const rows = DIAGNOSIS_ROWS.filter((r) => r.side === 'executor');
  return [
    README_START,
    '',
    "`ah agent doctor` names each fault of the troubleshooting guide first, with the guide's message",
    '(the whole matrix, access point and fleet included: [docs/diagnosis.md](docs/diagnosis.md)):',
    '',
    ...table(rows, false),
    '',
    README_END,
  ].join('\n');
}

/** The README with its diagnosis section replaced (or appended when it has none yet). */
export function readmeWithSection(readme: string): string {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < 0) return `${readme.trimEnd()}\n\n## Diagnosis matrix\n\n${renderReadmeSection()}\n`;
  return `${readme.slice(0, start)}${renderReadmeSection()}${readme.slice(end + README_END.length)}`;
}
