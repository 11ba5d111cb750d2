/**
 * Start the fake SPIRE agent by hand, to try `ah agent … --identity spiffe` without a SPIRE
 * install. See README.md in this folder for the options and the commands typed on stdin.
 *
 *   npx tsx test/support/fake-spire/cli.ts --socket /tmp/spire/agent.sock \
 *     --trust-domain example.org --spiffe-id spiffe://example.org/ah/agent/executor-1 --ttl 30s
 */
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { formatDuration, parseDuration } from '../../../src/util/duration.js';
import { SVID_DEFECTS, type SvidDefect } from './ca.js';
import { startFakeSpire, type FakeSpire } from './server.js';
import { parseSpiffeId } from './spiffe-id.js';
import { createTrustDomain, type FakeTrustDomain } from './trust-domain.js';

const USAGE = `usage: tsx test/support/fake-spire/cli.ts --socket PATH [options]

  --socket PATH            socket to serve (absolute path or unix:///path); the directory is created
  --trust-domain TD        trust domain of that socket's agent (default example.org)
  --spiffe-id ID           identity served on --socket; repeat for more (the first is the default);
                           none: the workload is unregistered and gets PERMISSION_DENIED
  --hint TEXT              hint for the first --spiffe-id
  --ttl DURATION           SVID lifetime (default 1h); SVIDs are re-issued at half-life
  --no-auto-rotate         do not re-issue at half-life (use the 'rotate' command)
  --ca-ttl DURATION        CA certificate lifetime (default 24h)
  --intermediate           sign SVIDs with an intermediate (x509_svid = leaf + intermediate)
  --federate-with TD       also send TD's bundle as a federated bundle (repeatable)
  --agent SOCKET=ID        another agent on SOCKET serving ID, in ID's trust domain (repeatable);
                           agents in one trust domain share its CA, like hosts under one SPIRE server
  --bundle-out FILE        write the first agent's trust bundle (PEM) to FILE, again after each change
  --allow-unauthenticated-verifiers
                           FetchX509Bundles answers even without an identity
`;

const COMMANDS = `commands (stdin; prefix with @N to address the Nth agent, default @1):
  status                   agents, identities, serials, expiry, stream counts
  rotate [ID]              new SVID(s) now, pushed to open streams
  defect KIND [ID]         push an SVID that breaks the X.509-SVID rules: ${SVID_DEFECTS.join(', ')}
  rotate-ca [OVERLAP]      new CA: bundle old+new, SVIDs re-issued; old CA dropped after OVERLAP
                           (e.g. 30s), or at 'drop-old-ca' when OVERLAP is omitted
  drop-old-ca              end the CA overlap now
  register ID [TTL]        add an identity
  unregister [ID]          remove one identity, or all (streams end PERMISSION_DENIED)
  garbage                  spoil x509_svid in the next push (now, if a stream is open)
  attestation-fails on|off every call fails UNAVAILABLE "workload attestation failed"
  break                    end open streams with UNAVAILABLE, socket stays
  stop | stop-stale        vanish (socket removed | left behind dead, ECONNREFUSED)
  start | restart          come back on the same path with new SVIDs
  help | quit
`;

interface AgentSpec {
  readonly socket: string;
  readonly ids: string[];
}

function fail(message: string): never {
  process.stderr.write(`fake-spire: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function stamp(): string {
  return new Date().toISOString().slice(11, 23);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      socket: { type: 'string' },
      'trust-domain': { type: 'string', default: 'example.org' },
      'spiffe-id': { type: 'string', multiple: true, default: [] },
      hint: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      'no-auto-rotate': { type: 'boolean', default: false },
      'ca-ttl': { type: 'string', default: '24h' },
      intermediate: { type: 'boolean', default: false },
      'federate-with': { type: 'string', multiple: true, default: [] },
      agent: { type: 'string', multiple: true, default: [] },
      'bundle-out': { type: 'string' },
      'allow-unauthenticated-verifiers': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n${COMMANDS}`);
    return;
  }
  if (!values.socket) fail('--socket is required');
  let ttlMs: number;
  let caTtlMs: number;
  try {
    ttlMs = parseDuration(values.ttl);
    caTtlMs = parseDuration(values['ca-ttl']);
  } catch (err) {
    fail((err as Error).message);
  }

  const specs: Array<AgentSpec & { trustDomain: string }> = [{ socket: values.socket, ids: values['spiffe-id'], trustDomain: values['trust-domain'] }];
  for (const text of values.agent) {
    const eq = text.indexOf('=');
    if (eq <= 0) fail(`--agent wants SOCKET=SPIFFE_ID, got ${text}`);
    const id = text.slice(eq + 1);
    specs.push({ socket: text.slice(0, eq), ids: [id], trustDomain: parseSpiffeId(id).trustDomain });
  }

  // One FakeTrustDomain per name, shared by every agent in it.
  const domains = new Map<string, FakeTrustDomain>();
  const domain = async (name: string) => {
    let td = domains.get(name);
    if (!td) {
      td = await createTrustDomain(name, { caTtlMs, intermediate: values.intermediate });
      domains.set(name, td);
    }
    return td;
  };
  const federated = await Promise.all(values['federate-with'].map(domain));

  const agents: FakeSpire[] = [];
  for (const [i, spec] of specs.entries()) {
    const label = `@${i + 1}`;
    const spire = await startFakeSpire({
      socketPath: spec.socket,
      trustDomain: await domain(spec.trustDomain),
      federatesWith: federated.filter((td) => td.name !== spec.trustDomain),
      svidTtlMs: ttlMs,
      autoRotate: !values['no-auto-rotate'],
      allowUnauthenticatedVerifiers: values['allow-unauthenticated-verifiers'],
      log: (line) => process.stderr.write(`${stamp()} ${label} ${line}\n`),
    });
    agents.push(spire);
    for (const [j, id] of spec.ids.entries()) {
      await spire.register(id, { hint: i === 0 && j === 0 ? values.hint : undefined });
    }
  }

  const bundleOut = values['bundle-out'];
  if (bundleOut) {
    const write = () => writeFileSync(bundleOut, agents[0]!.bundlePem());
    write();
    agents[0]!.trustDomain.subscribe(() => write());
  }

  for (const [i, spire] of agents.entries()) {
    process.stdout.write(`fake-spire @${i + 1} ready: SPIFFE_ENDPOINT_SOCKET=${spire.target} (trust domain ${spire.trustDomain.name})\n`);
  }
  process.stdout.write(`type 'help' for commands\n`);

  let closing = false;
  const shutdown = async (code: number) => {
    if (closing) return;
    closing = true;
    await Promise.all(agents.map((a) => a.close()));
    for (const td of domains.values()) td.dispose();
    process.exit(code);
  };
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));

  const rl = createInterface({ input: process.stdin });
  // One command at a time, in the order typed: each is a state change the next may build on.
  let queue = Promise.resolve();
  rl.on('line', (line) => {
    queue = queue.then(() => run(line.trim())).catch((err: unknown) => void process.stderr.write(`error: ${(err as Error).message}\n`));
  });
  // Without a terminal (e.g. `… < /dev/null` or a background job), keep serving until a signal.
  rl.on('close', () => undefined);

  async function run(line: string): Promise<void> {
    if (line === '') return;
    let words = line.split(/\s+/);
    let spire = agents[0]!;
    if (words[0]!.startsWith('@')) {
      const picked = agents[Number(words[0]!.slice(1)) - 1];
      if (!picked) throw new Error(`no agent ${words[0]}`);
      spire = picked;
      words = words.slice(1);
    }
    const [command, ...args] = words;
    switch (command) {
      case 'help':
        process.stdout.write(COMMANDS);
        return;
      case 'status':
        for (const [i, a] of agents.entries()) {
          const s = a.stats;
          process.stdout.write(
            `@${i + 1} ${a.target} ${a.isListening ? 'listening' : 'STOPPED'} td=${a.trustDomain.name} bundle=${a.trustDomain.bundleCas.length} CA(s) streams=${s.x509StreamsOpen} connections=${s.connectionsOpen} calls=${s.callsTotal} rejected-headers=${s.headersRejected}\n`,
          );
          for (const svid of a.svids()) {
            const left = svid.notAfter.getTime() - Date.now();
            process.stdout.write(
              `   ${svid.spiffeId} serial ${svid.serial} expires ${svid.notAfter.toISOString()} (in ${formatDuration(Math.max(left, 0))})${svid.defect ? ` DEFECT ${svid.defect}` : ''}\n`,
            );
          }
          if (a.svids().length === 0) process.stdout.write('   (no identity: callers get PERMISSION_DENIED "no identity issued")\n');
        }
        return;
      case 'rotate':
        await spire.rotate(args[0]);
        return;
      case 'defect': {
        const kind = args[0] as SvidDefect;
        if (!SVID_DEFECTS.includes(kind)) throw new Error(`defect must be one of ${SVID_DEFECTS.join(', ')}`);
        await spire.rotate(args[1] ?? spire.svids()[0]?.spiffeId, { defect: kind });
        return;
      }
      case 'rotate-ca':
        await spire.rotateCa({ overlapMs: args[0] ? parseDuration(args[0]) : undefined });
        return;
      case 'drop-old-ca':
        await spire.dropOldCa();
        return;
      case 'register':
        if (!args[0]) throw new Error('register needs a SPIFFE ID');
        await spire.register(args[0], { ttlMs: args[1] ? parseDuration(args[1]) : undefined });
        return;
      case 'unregister':
        await spire.unregister(args[0]);
        return;
      case 'garbage':
        await spire.pushGarbage();
        return;
      case 'attestation-fails':
        spire.failAttestation(args[0] !== 'off');
        return;
      case 'break':
        await spire.breakStreams();
        return;
      case 'stop':
        await spire.stop();
        return;
      case 'stop-stale':
        await spire.stop({ leaveStaleSocket: true });
        return;
      case 'start':
        await spire.start();
        return;
      case 'restart':
        await spire.restart();
        return;
      case 'quit':
      case 'exit':
        await shutdown(0);
        return;
      default:
        throw new Error(`unknown command '${command}' (try 'help')`);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`fake-spire: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
