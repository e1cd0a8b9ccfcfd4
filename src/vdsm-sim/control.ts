import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ZodError } from 'zod';
import type { Simulator } from './simulator';

/**
 * Loopback HTTP/JSON control of a running simulator, for benchmarks and chaos scripts in another
 * process. Same operations as the in-process API:
 *
 *   GET  /health          {running, poolId, spmHostId}
 *   GET  /hosts           [{hostId, name, vdsId, address, port}]
 *   GET  /counters        per-host and per-pool verb counts      POST /counters/reset
 *   GET  /faults          the fault configuration                POST /faults  {patch} → new configuration
 *   POST /failover        {toHostId?} → {from, to}
 *   POST /crash           in-process crash (listeners down, memory lost)
 *   POST /restart         crash if running, then start from disk
 *   GET  /tasks           every host's tasks (internal and wire state)
 *   GET  /jobs            every host's host jobs
 *   GET  /storage         images per domain
 *   GET  /storage/<domainId>/<imageId>   the image's volume chain, base first (404 if no such image)
 */

export interface ControlServer {
  port: number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new HttpError(400, 'body must be a JSON object');
  return parsed as Record<string, unknown>;
}

const CHAIN_PATH = /^\/storage\/([^/]+)\/([^/]+)$/;

async function route(sim: Simulator, method: string, path: string, req: IncomingMessage): Promise<unknown> {
  const key = `${method} ${path}`;
  const chain = method === 'GET' ? CHAIN_PATH.exec(path) : null;
  if (chain) {
    const [, domainId, imageId] = chain as unknown as [string, string, string];
    const volumes = sim.imageChain(decodeURIComponent(domainId), decodeURIComponent(imageId));
    if (!volumes) throw new HttpError(404, `no image ${imageId} on domain ${domainId}`);
    return volumes;
  }
  switch (key) {
    case 'GET /health':
      return { running: sim.running, poolId: sim.poolId, spmHostId: sim.spmHostId() ?? null };
    case 'GET /hosts':
      return sim.hosts;
    case 'GET /counters':
      return sim.counters();
    case 'POST /counters/reset':
      sim.resetCounters();
      return sim.counters();
    case 'GET /faults':
      return sim.faults();
    case 'POST /faults':
      return sim.setFaults(await readJson(req));
    case 'POST /failover': {
      const body = await readJson(req);
      const toHostId = body.toHostId;
      if (toHostId !== undefined && typeof toHostId !== 'string')
        throw new HttpError(400, 'toHostId must be a string');
      return sim.failover(toHostId);
    }
    case 'POST /crash':
      await sim.crash();
      return { running: sim.running };
    case 'POST /restart':
      await sim.restart();
      return { running: sim.running, spmHostId: sim.spmHostId() ?? null };
    case 'GET /tasks':
      return sim.listTasks();
    case 'GET /jobs':
      return sim.listJobs();
    case 'GET /storage':
      return sim.storageSnapshot();
    default:
      throw new HttpError(404, `no route ${key}`);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function startControlServer(sim: Simulator, port: number): Promise<ControlServer> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/';
    route(sim, req.method ?? 'GET', path, req).then(
      (body) => send(res, 200, body),
      (err: unknown) => {
        if (err instanceof HttpError) send(res, err.status, { error: err.message });
        else if (err instanceof ZodError)
          send(res, 400, { error: 'invalid fault configuration', issues: err.issues });
        else send(res, 500, { error: (err as Error).message });
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // Loopback only: the control endpoint has no authentication.
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address ? address.port : port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
