/**
 * Temporal unreachable while a client command or the worker runs: `watch` says the server cannot
 * be reached and exits 3 (it said "no worker answered the query" and went on forever), and the
 * worker logs the outage as it starts. The server is reached through a TCP proxy this test can
 * freeze: connections are accepted and never answered, as by a stopped (SIGSTOP) server.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Client } from '@temporalio/client';
import { ExitCode } from '../src/cli/exit-codes';
import { workflowIds, WorkflowType } from '../src/shared/names';
import { assertCliBuilt, spawnCli } from './support/cli';
import { testAddress, testClient, uniqueTaskQueue } from './support/temporal';

jest.setTimeout(90_000);

/** Forwards to the test server until frozen; frozen, it holds every byte and answers nothing. */
class FreezableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private frozen: boolean;
  port = 0;

  constructor(
    private readonly target: { host: string; port: number },
    options: { frozen: boolean },
  ) {
    this.frozen = options.frozen;
  }

  async start(): Promise<void> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private accept(client: Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    if (this.frozen) {
      client.pause();
      return;
    }
    const upstream = createConnection(this.target);
    this.sockets.add(upstream);
    upstream.on('close', () => this.sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Existing connections stop flowing (both ways); new ones are accepted and held. */
  freeze(): void {
    this.frozen = true;
    for (const socket of this.sockets) {
      socket.unpipe();
      socket.pause();
    }
  }

  /** New connections are forwarded; held ones are closed so that clients reconnect. */
  thaw(): void {
    this.frozen = false;
    for (const socket of this.sockets) socket.destroy();
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function targetOfTestServer(): { host: string; port: number } {
  const [host, port] = testAddress().split(':');
  return { host: host!, port: Number(port) };
}

/** Collects a child's output; `waitFor` resolves once a stream contains the text. */
function watchOutput(child: ChildProcess): {
  out: () => string;
  err: () => string;
  waitFor: (stream: 'out' | 'err', text: string) => Promise<void>;
  exit: Promise<number | null>;
} {
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  const notify = (): void => waiters.splice(0).forEach((w) => w());
  child.stdout!.setEncoding('utf8').on('data', (c: string) => ((out += c), notify()));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => ((err += c), notify()));
  const exit = new Promise<number | null>((resolve) =>
    child.on('close', (code) => (notify(), resolve(code))),
  );
  let exited = false;
  void exit.then(() => (exited = true));
  const waitFor = async (stream: 'out' | 'err', text: string): Promise<void> => {
    for (;;) {
      if ((stream === 'out' ? out : err).includes(text)) return;
      if (exited)
        throw new Error(`exited without printing ${JSON.stringify(text)}\nstdout: ${out}\nstderr: ${err}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return { out: () => out, err: () => err, waitFor, exit };
}

let client: Client;
const children: ChildProcess[] = [];
const proxies: FreezableProxy[] = [];
const dir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-outage-'));

beforeAll(async () => {
  assertCliBuilt();
  client = await testClient();
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(proxies.map((p) => p.stop()));
  await client.connection.close();
  rmSync(dir, { recursive: true, force: true });
});

async function proxy(frozen: boolean): Promise<FreezableProxy> {
  const p = new FreezableProxy(targetOfTestServer(), { frozen });
  await p.start();
  proxies.push(p);
  return p;
}

test('watch: no worker is reported as such; a server that stops answering is exit 3, "cannot reach Temporal"', async () => {
  const p = await proxy(false);
  // No worker polls this queue: the run stays RUNNING and its queries go unanswered.
  const workflowId = workflowIds.removeVm(randomUUID());
  const handle = await client.workflow.start(WorkflowType.removeVm, {
    workflowId,
    taskQueue: uniqueTaskQueue('outage'),
    args: [{ vmId: workflowId.split('/')[1], force: false }],
  });
  try {
    const child = spawnCli(['watch', workflowId], { TEMPORAL_ADDRESS: p.address });
    children.push(child);
    const output = watchOutput(child);
    // The server answers, no worker does: that is what watch says.
    await output.waitFor('out', 'no worker answered the query');
    p.freeze();
    const status = await output.exit;
    expect(output.err()).toContain(`cannot reach Temporal at ${p.address}`);
    expect(status).toBe(ExitCode.Unreachable);
  } finally {
    await handle.terminate('test cleanup');
  }
});

test('the worker logs at start that Temporal cannot be reached, and when it answers again', async () => {
  const p = await proxy(true);
  const child = spawnCli(['worker'], {
    TEMPORAL_ADDRESS: p.address,
    OVIRT_TASKS_INVENTORY_URL: `sqlite:${join(dir, 'worker-inventory.db')}`,
    OVIRT_TASKS_TASK_QUEUE: uniqueTaskQueue('outage-worker'),
  });
  children.push(child);
  const output = watchOutput(child);
  await output.waitFor('err', `cannot reach Temporal at ${p.address}`);
  expect(output.err()).toContain('retrying every 5 s until it answers');
  p.thaw();
  await output.waitFor('err', 'ovirt-tasks worker: Temporal answers again');
  child.kill('SIGTERM');
  await output.exit;
});
