import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EngineMetrics } from './metrics';

export interface MetricsServer {
  /** The scrape URL, `http://host:port/metrics` (the bound port when 0 was asked). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** How long a scrape waits for the SDK's exposition before serving the engine's alone. */
const SDK_SCRAPE_TIMEOUT_MS = 2_000;

/**
 * Serves GET /metrics at `host:port`: the engine's series, then the SDK's runtime series fetched
 * from `sdkMetricsUrl` (the Temporal core's own Prometheus listener on loopback, which cannot
 * share a port with this one) in one exposition. The two never share a metric name (`ovirt_tasks_`
 * against `temporal_`), so the concatenation is valid exposition text.
 */
export async function startMetricsServer(options: {
  host: string;
  port: number;
  metrics: EngineMetrics;
  sdkMetricsUrl?: string;
}): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: scrape /metrics\n');
      return;
    }
    exposition(options.metrics, options.sdkMetricsUrl).then(
      (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
      (err: unknown) =>
        res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end(`metrics failed: ${(err as Error).message}\n`),
    );
  });
  // A scraper keeping connections open must not hold the worker's shutdown.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}/metrics`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function exposition(metrics: EngineMetrics, sdkMetricsUrl: string | undefined): Promise<string> {
  const engine = await metrics.exposition();
  if (!sdkMetricsUrl) return engine;
  try {
    const res = await fetch(sdkMetricsUrl, { signal: AbortSignal.timeout(SDK_SCRAPE_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return `${engine}\n${await res.text()}`;
  } catch (err) {
    // The engine's series are still worth serving; the comment says why the SDK's are missing.
    return `${engine}\n# Temporal SDK runtime metrics unavailable (${sdkMetricsUrl}): ${(err as Error).message}\n`;
  }
}
