import { readFileSync } from 'node:fs';
import { type VdsmTlsMaterial, VdsmRpcChannel } from './channel';
import { VdsmHostClient } from './client';
import type { VdsmConnector, VdsmEndpoint } from './port';

export interface VdsmConnectorOptions {
  /** PEM file paths (engine CA, client certificate and key). Absent → plain TCP. */
  tls?: { cert: string; key: string; ca: string };
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** STOMP heart-beat offered to VDSM; 0 disables. */
  heartbeatMs?: number;
  reconnectBackoff?: { initialMs?: number; maxMs?: number };
}

export interface VdsmHostConnector extends VdsmConnector {
  host(endpoint: VdsmEndpoint): VdsmHostClient;
}

/**
 * One connection per address:port, shared by every client of that endpoint. The PEM files are
 * read now, so a bad path fails at startup rather than on the first request.
 */
export function createVdsmConnector(options: VdsmConnectorOptions = {}): VdsmHostConnector {
  const tls: VdsmTlsMaterial | undefined = options.tls && {
    cert: readFileSync(options.tls.cert),
    key: readFileSync(options.tls.key),
    ca: readFileSync(options.tls.ca),
  };
  const channels = new Map<string, VdsmRpcChannel>();
  const clients = new Map<string, VdsmHostClient>();
  let closed = false;

  return {
    host(endpoint: VdsmEndpoint): VdsmHostClient {
      if (closed) throw new Error('VDSM connector is closed');
      const target = `${endpoint.address}:${endpoint.port}`;
      const clientKey = `${endpoint.hostId}@${target}`;
      const existing = clients.get(clientKey);
      if (existing) return existing;
      let channel = channels.get(target);
      if (!channel) {
        channel = new VdsmRpcChannel({
          address: endpoint.address,
          port: endpoint.port,
          tls,
          requestTimeoutMs: options.requestTimeoutMs,
          connectTimeoutMs: options.connectTimeoutMs,
          heartbeatMs: options.heartbeatMs,
          reconnectBackoff: options.reconnectBackoff,
        });
        channels.set(target, channel);
      }
      const client = new VdsmHostClient(endpoint, channel);
      clients.set(clientKey, client);
      return client;
    },

    async close(): Promise<void> {
      closed = true;
      const closing = [...channels.values()].map((channel) => channel.close());
      channels.clear();
      clients.clear();
      await Promise.all(closing);
    },
  };
}
