import { readFileSync } from 'node:fs';
import type { DataCenterFixture } from '../fixture/schema';
import { CallLog, type RecordedCall } from './calls';
import { startControlServer, type ControlServer } from './control';
import { DataCenterSim } from './datacenter';
import { RpcErrors, VdsmFault } from './errors';
import { type FaultConfig, type FaultConfigInput, Faults, type HostRef } from './faults';
import type { HostJobInfo } from './jobs';
import {
  encodeResponses,
  errorResponse,
  namedParams,
  parseMessage,
  type RpcRequest,
  type RpcResponse,
} from './jsonrpc';
import { simulatorHostPorts } from './ports';
import { EVENTS_DESTINATION, type IncomingRequest, StompEndpoint, type TlsFiles } from './stomp-server';
import type { ChainVolume } from './storage';
import { isDone, type SimTask, type TaskSnapshot } from './tasks';
import { VERBS } from './verbs';

export interface SimulatorOptions {
  fixture: DataCenterFixture;
  /** Shared storage and SPM task files live here (one directory per pool). */
  dataDir: string;
  /** The fixture's SPM host listens here, the others on the next ports; 0 = an ephemeral port per host. Default 54321. */
  basePort?: number;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** PEM files: server certificate and key, and the CA client certificates must be signed by. */
  tls?: { cert: string; key: string; ca: string };
  faults?: FaultConfigInput;
  /** Lowest non-zero heart-beat the server agrees to (VDSM: 1000 ms). */
  heartbeatMs?: number;
  /** Loopback HTTP control endpoint port (0 = ephemeral); none when undefined. */
  controlPort?: number;
  /**
   * Bring the SPM up at start (the host the master domain names, else the fixture's), as if the
   * engine had run spmStart. false: every host starts Free and StoragePool.spmStart is needed.
   */
  autoSpm?: boolean;
  /** How long a new connection may take to send its first bytes (VDSM: 10 s). */
  sniffTimeoutMs?: number;
  /** Called instead of an in-process crash when an `exitAfter` fault fires (the CLI exits the process). */
  onInjectedExit?: () => void;
  log?: (line: string) => void;
}

export interface SimulatorHost {
  hostId: string;
  name: string;
  vdsId: number;
  address: string;
  port: number;
}

export interface VerbCounts {
  total: number;
  verbs: Record<string, number>;
}

export interface Counters {
  /** Per fixture host: requests per JSON-RPC method (unknown ones too) and accepted connections. */
  hosts: Record<string, VerbCounts & { name: string; connections: number }>;
  /** Per pool: the same requests summed over the pool's hosts. */
  pools: Record<string, VerbCounts>;
}

export type SimulatorTask = TaskSnapshot & { hostId: string; hostName: string };

/** Visible images (volume ids, base first) and `_remove_me_` leftovers, per domain. */
export type StorageSnapshot = Record<string, { images: Record<string, string[]>; removed: string[] }>;

export interface Simulator {
  readonly poolId: string;
  readonly hosts: readonly SimulatorHost[];
  readonly controlPort: number | undefined;
  /** False after crash() (or an injected crash) until restart(), and after stop(). */
  readonly running: boolean;
  /** Closes listeners, connections and the control endpoint; persisted state stays. */
  stop(): Promise<void>;
  /** A VDSM crash on every host: listeners and connections gone, in-memory tasks and jobs lost. */
  crash(): Promise<void>;
  /** crash() if running, then start again from disk on the same ports. */
  restart(): Promise<void>;
  /** spmStop on the SPM (if any), spmStart on `toHostId` (default: the next host) and waits for it. */
  failover(toHostId?: string): Promise<{ from: string | undefined; to: string }>;
  spmHostId(): string | undefined;
  faults(): FaultConfig;
  /** Top-level keys replace, null removes. Throws on an invalid configuration. */
  setFaults(patch: Record<string, unknown>): FaultConfig;
  counters(): Counters;
  /** Resets the counters and the call record. */
  resetCounters(): void;
  /** The newest calls of the verbs the simulator serves, oldest first (see calls.ts). */
  calls(method?: string): RecordedCall[];
  listTasks(): SimulatorTask[];
  listJobs(): Record<string, Record<string, HostJobInfo>>;
  imageExists(domainId: string, imageId: string): boolean;
  storageSnapshot(): StorageSnapshot;
  /**
   * An image's volumes in chain order (base first) with parent, voltype, legality, format, type,
   * capacity, generation and sequence; undefined when the image does not exist (or is `_remove_me_`).
   */
  imageChain(domainId: string, imageId: string): ChainVolume[] | undefined;
  /** Volume.getInfo without going through a host; undefined when the volume does not exist. */
  volumeInfo(domainId: string, imageId: string, volumeId: string): Record<string, unknown> | undefined;
  /** Called after every crash (injected or not); returns an unsubscribe function. */
  onCrash(listener: () => void): () => void;
}

const DEFAULT_BASE_PORT = 54321;
const DEFAULT_HEARTBEAT_FLOOR_MS = 1000;
const DEFAULT_SNIFF_TIMEOUT_MS = 10_000;

/**
 * Unknown method names are counted too, but a peer chooses them: past this many distinct ones per
 * host (or past MAX_COUNTED_NAME_LENGTH), they share UNKNOWN_METHODS_KEY, so memory stays bounded.
 */
const MAX_UNKNOWN_METHOD_NAMES = 64;
const MAX_COUNTED_NAME_LENGTH = 128;
export const UNKNOWN_METHODS_KEY = '(other unknown methods)';

class CounterBook {
  private hosts = new Map<string, { verbs: Map<string, number>; connections: number; unknown: number }>();

  constructor(private readonly fixture: DataCenterFixture) {}

  count(hostId: string, method: string, known: boolean): void {
    const host = this.entry(hostId);
    let key = method;
    if (!known && !host.verbs.has(method)) {
      if (host.unknown >= MAX_UNKNOWN_METHOD_NAMES || method.length > MAX_COUNTED_NAME_LENGTH)
        key = UNKNOWN_METHODS_KEY;
      else host.unknown += 1;
    }
    host.verbs.set(key, (host.verbs.get(key) ?? 0) + 1);
  }

  connection(hostId: string): void {
    this.entry(hostId).connections += 1;
  }

  reset(): void {
    this.hosts.clear();
  }

  snapshot(): Counters {
    const hosts: Counters['hosts'] = {};
    const pool: VerbCounts = { total: 0, verbs: {} };
    for (const h of this.fixture.hosts) {
      const entry = this.hosts.get(h.id);
      const verbs = Object.fromEntries(entry?.verbs ?? []);
      const total = Object.values(verbs).reduce((a, b) => a + b, 0);
      hosts[h.id] = { name: h.name, connections: entry?.connections ?? 0, total, verbs };
      for (const [verb, n] of Object.entries(verbs)) pool.verbs[verb] = (pool.verbs[verb] ?? 0) + n;
      pool.total += total;
    }
    return { hosts, pools: { [this.fixture.pool.id]: pool } };
  }

  private entry(hostId: string): { verbs: Map<string, number>; connections: number; unknown: number } {
    let entry = this.hosts.get(hostId);
    if (!entry) {
      entry = { verbs: new Map(), connections: 0, unknown: 0 };
      this.hosts.set(hostId, entry);
    }
    return entry;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class VdsmSimulator implements Simulator {
  readonly poolId: string;
  hosts: SimulatorHost[] = [];
  controlPort: number | undefined;
  private engine: DataCenterSim | undefined;
  private readonly endpoints = new Map<string, StompEndpoint>();
  /** Bumped by every crash: work started in an earlier life never answers. */
  private epoch = 0;
  private state: 'running' | 'crashed' | 'stopped' = 'crashed';
  private readonly dice: Faults;
  private readonly counterBook: CounterBook;
  private readonly callLog = new CallLog();
  private readonly crashListeners = new Set<() => void>();
  /** Tasks whose end fires an `afterFinish` exit. */
  private readonly exitOnFinish = new Set<string>();
  private readonly taskWaiters = new Map<
    string,
    { resolve(task: SimTask): void; reject(err: Error): void }
  >();
  private readonly tls: TlsFiles | undefined;
  private control: ControlServer | undefined;
  private readonly log: (line: string) => void;

  constructor(private readonly options: SimulatorOptions) {
    this.poolId = options.fixture.pool.id;
    this.dice = new Faults(options.faults);
    this.counterBook = new CounterBook(options.fixture);
    this.log = options.log ?? (() => undefined);
    this.tls = options.tls && {
      cert: readFileSync(options.tls.cert),
      key: readFileSync(options.tls.key),
      ca: readFileSync(options.tls.ca),
    };
  }

  get running(): boolean {
    return this.state === 'running';
  }

  async start(): Promise<void> {
    await this.boot();
    if (this.options.controlPort !== undefined) {
      this.control = await startControlServer(this, this.options.controlPort);
      this.controlPort = this.control.port;
    }
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    // A crashed engine's memory may be older than the files (another simulator may have run since).
    const engine = this.state === 'running' ? this.engine : undefined;
    await this.goDown();
    engine?.close();
    this.state = 'stopped';
    await this.control?.close();
  }

  async crash(): Promise<void> {
    if (this.state !== 'running') return;
    await this.goDown();
    for (const listener of this.crashListeners) listener();
  }

  async restart(): Promise<void> {
    if (this.state === 'stopped') throw new Error('the simulator was stopped');
    await this.crash();
    await this.boot();
  }

  async failover(toHostId?: string): Promise<{ from: string | undefined; to: string }> {
    const engine = this.requireRunning();
    const hosts = this.options.fixture.hosts;
    const current = engine.spmHost();
    const currentIndex = hosts.findIndex((h) => h.id === current?.fixture.id);
    const targetId = toHostId ?? hosts[(currentIndex + 1) % hosts.length]!.id;
    const target = engine.host(targetId);
    if (current) engine.spSpmStop(current, this.poolId);
    const taskId = engine.spSpmStart(target, this.poolId);
    const ended = await new Promise<SimTask>((resolve, reject) =>
      this.taskWaiters.set(taskId, { resolve, reject }),
    );
    // The engine clears its spmStart task once it has read the result.
    target.tasks.clear(ended);
    if (ended.state !== 'finished')
      throw new Error(`spmStart on ${target.fixture.name} ended ${ended.state}: ${ended.result.message}`);
    return { from: current?.fixture.id, to: targetId };
  }

  spmHostId(): string | undefined {
    return this.engine?.spmHost()?.fixture.id;
  }

  faults(): FaultConfig {
    return this.dice.current();
  }

  setFaults(patch: Record<string, unknown>): FaultConfig {
    return this.dice.update(patch);
  }

  counters(): Counters {
    return this.counterBook.snapshot();
  }

  resetCounters(): void {
    this.counterBook.reset();
    this.callLog.reset();
  }

  calls(method?: string): RecordedCall[] {
    return this.callLog.list(method);
  }

  listTasks(): SimulatorTask[] {
    return this.engine?.listTasks() ?? [];
  }

  listJobs(): Record<string, Record<string, HostJobInfo>> {
    const engine = this.engine;
    if (!engine) return {};
    return Object.fromEntries(this.options.fixture.hosts.map((h) => [h.id, engine.host(h.id).jobs.info()]));
  }

  imageExists(domainId: string, imageId: string): boolean {
    return this.storage().image(domainId, imageId) !== undefined;
  }

  storageSnapshot(): StorageSnapshot {
    const storage = this.storage();
    return Object.fromEntries(
      storage.domainIds().map((domainId) => [
        domainId,
        {
          images: Object.fromEntries(
            storage
              .imageIds(domainId)
              .map((imageId) => [
                imageId,
                (storage.image(domainId, imageId)?.volumes ?? []).map((v) => v.id),
              ]),
          ),
          removed: storage.removedImageIds(domainId),
        },
      ]),
    );
  }

  imageChain(domainId: string, imageId: string): ChainVolume[] | undefined {
    return this.storage().chain(domainId, imageId);
  }

  volumeInfo(domainId: string, imageId: string, volumeId: string): Record<string, unknown> | undefined {
    const engine = this.requireEngine();
    try {
      return engine.volumeGetInfo({
        volumeID: volumeId,
        imageID: imageId,
        storagedomainID: domainId,
        storagepoolID: this.poolId,
      });
    } catch (err) {
      if (err instanceof VdsmFault) return undefined;
      throw err;
    }
  }

  onCrash(listener: () => void): () => void {
    this.crashListeners.add(listener);
    return () => this.crashListeners.delete(listener);
  }

  // ---- life cycle ----

  private async boot(): Promise<void> {
    const epoch = this.epoch;
    const engine = new DataCenterSim({
      fixture: this.options.fixture,
      dataDir: this.options.dataDir,
      faults: this.dice,
      autoSpm: this.options.autoSpm ?? true,
      hooks: {
        notify: (hostId, method, params) =>
          this.endpoints
            .get(hostId)
            ?.publish(EVENTS_DESTINATION, JSON.stringify({ jsonrpc: '2.0', method, params })),
        onTaskStateChange: (_hostId, task) => this.onTaskStateChange(task),
        log: this.log,
      },
    });
    this.engine = engine;
    const address = this.options.host ?? '127.0.0.1';
    // A restart listens where the first start did (ephemeral ports included).
    const ports =
      this.hosts.length > 0
        ? new Map(this.hosts.map((h) => [h.hostId, h.port]))
        : simulatorHostPorts(this.options.fixture, this.options.basePort ?? DEFAULT_BASE_PORT);
    const bound: SimulatorHost[] = [];
    try {
      for (const fixtureHost of this.options.fixture.hosts) {
        const hostRef: HostRef = { hostId: fixtureHost.id, name: fixtureHost.name };
        const endpoint = new StompEndpoint({
          bindAddress: address,
          port: ports.get(fixtureHost.id) ?? 0,
          tls: this.tls,
          heartbeatFloorMs: this.options.heartbeatMs ?? DEFAULT_HEARTBEAT_FLOOR_MS,
          sniffTimeoutMs: this.options.sniffTimeoutMs ?? DEFAULT_SNIFF_TIMEOUT_MS,
          onConnection: () => this.counterBook.connection(fixtureHost.id),
          onRequest: (request) =>
            void this.serve(epoch, engine, hostRef, request).catch((err: unknown) =>
              this.log(`serving a request on ${hostRef.name} failed: ${(err as Error).stack ?? String(err)}`),
            ),
          log: this.log,
        });
        this.endpoints.set(fixtureHost.id, endpoint);
        const port = await endpoint.listen();
        bound.push({
          hostId: fixtureHost.id,
          name: fixtureHost.name,
          vdsId: fixtureHost.vdsId,
          address,
          port,
        });
      }
    } catch (err) {
      await this.goDown();
      throw err;
    }
    if (this.hosts.length === 0) this.hosts = bound;
    this.state = 'running';
  }

  private async goDown(): Promise<void> {
    this.epoch += 1;
    this.state = 'crashed';
    this.engine?.shutdown();
    const endpoints = [...this.endpoints.values()];
    this.endpoints.clear();
    this.exitOnFinish.clear();
    for (const waiter of this.taskWaiters.values()) waiter.reject(new Error('the simulator went down'));
    this.taskWaiters.clear();
    await Promise.all(endpoints.map((e) => e.close()));
  }

  private injectExit(): void {
    this.log('injected crash (exitAfter)');
    if (this.options.onInjectedExit) this.options.onInjectedExit();
    else void this.crash();
  }

  private onTaskStateChange(task: SimTask): void {
    if (!isDone(task.state)) return;
    const waiter = this.taskWaiters.get(task.id);
    if (waiter) {
      this.taskWaiters.delete(task.id);
      waiter.resolve(task);
    }
    if (this.exitOnFinish.delete(task.id)) {
      // After the engine has finished this state change (the file is already written).
      queueMicrotask(() => this.injectExit());
    }
  }

  // ---- serving requests ----

  /** One SEND to a request queue: run its call(s), then answer the reply-to destination (faults permitting). */
  private async serve(
    epoch: number,
    engine: DataCenterSim,
    host: HostRef,
    request: IncomingRequest,
  ): Promise<void> {
    if (this.dice.stopsAnswering(host)) return;
    request.session.requests += 1;
    const requestNumber = request.session.requests;
    const alive = (): boolean => this.epoch === epoch && this.state === 'running';
    const { requests, errors } = parseMessage(request.body);
    let exitAfterReply = false;
    let crashed = false;
    const answers = await Promise.all(
      requests.map(async (call) => {
        const exitPoint = this.dice.exitPointFor(call.method, host);
        if (exitPoint === 'beforeAccept') crashed = true;
        if (crashed) return undefined;
        const response = await this.call(engine, host, call);
        if (exitPoint === 'afterAccept') crashed = true;
        if (exitPoint === 'afterReply') exitAfterReply = true;
        if (exitPoint === 'afterFinish') {
          const taskId = response?.result;
          if (
            typeof taskId === 'string' &&
            engine
              .host(host.hostId)
              .tasks.list()
              .some((t) => t.id === taskId)
          ) {
            this.exitOnFinish.add(taskId);
          } else {
            exitAfterReply = true;
          }
        }
        return response;
      }),
    );
    if (crashed) {
      if (alive()) this.injectExit();
      return;
    }
    const text = encodeResponses([...errors, ...answers.filter((a): a is RpcResponse => a !== undefined)]);
    const latency = this.dice.latencyMs();
    if (latency > 0) await sleep(latency);
    if (!alive() || text === undefined) return;
    if (this.dice.dropsConnection(host, requestNumber)) {
      request.session.drop();
      return;
    }
    // VDSM answers a request without reply-to into the void.
    if (request.replyTo) this.endpoints.get(host.hostId)?.publish(request.replyTo, text);
    if (exitAfterReply) {
      await request.session.flushed();
      if (alive()) this.injectExit();
    }
  }

  /** JsonRpcServer._handle_request + DynamicBridge: one call to one verb. */
  private async call(
    engine: DataCenterSim,
    host: HostRef,
    call: RpcRequest,
  ): Promise<RpcResponse | undefined> {
    const id = call.id ?? null;
    this.counterBook.count(host.hostId, call.method, Object.hasOwn(VERBS, call.method));
    try {
      engine.ensureReady(host.hostId);
      const verb = Object.hasOwn(VERBS, call.method) ? VERBS[call.method] : undefined;
      if (!verb) {
        // An unknown notification is dropped silently.
        if (call.id === undefined) return undefined;
        throw RpcErrors.methodNotFound(call.method);
      }
      const params = namedParams(call.params, verb.params);
      this.callLog.record(host.hostId, call.method, params);
      const injected = this.dice.failure(call.method, 'sync', host);
      if (injected) throw injected;
      const result = await verb.invoke({ dc: engine, host: engine.host(host.hostId) }, params);
      return { jsonrpc: '2.0', id, result: result === undefined ? true : result };
    } catch (err) {
      if (err instanceof VdsmFault) return errorResponse(id, err);
      this.log(`${call.method} on ${host.name} failed: ${(err as Error).stack ?? String(err)}`);
      return errorResponse(id, RpcErrors.internal());
    }
  }

  private requireEngine(): DataCenterSim {
    if (!this.engine) throw new Error('the simulator has not started');
    return this.engine;
  }

  private requireRunning(): DataCenterSim {
    if (this.state !== 'running') throw new Error(`the simulator is ${this.state}`);
    return this.requireEngine();
  }

  private storage(): DataCenterSim['storage'] {
    return this.requireEngine().storage;
  }
}

/** Starts one VDSM endpoint per fixture host (and the control endpoint if asked). */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const simulator = new VdsmSimulator(options);
  try {
    await simulator.start();
  } catch (err) {
    await simulator.stop();
    throw err;
  }
  return simulator;
}
