/**
 * Mutual TLS as VDSM runs it: the server demands a client certificate signed by the engine CA.
 * Certificates are made here with openssl.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type ConnectionOptions } from 'node:tls';
import { generateDataCenter } from '../src/fixture';
import { createVdsmConnector } from '../src/vdsm';
import { startSimulator, type Simulator } from '../src/vdsm-sim';
import { RpcPeer, tempDir } from './vdsm-sim-helpers';

const fixture = generateDataCenter({ vmCount: 2 });
let dir: { dir: string; remove(): void };
let sim: Simulator;
const file = (name: string): string => join(dir.dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir.dir, stdio: 'pipe' });
}

/** An EC key and a certificate for `cn`, signed by the CA (or self-signed). */
function certificate(name: string, cn: string, signedByCa: boolean): void {
  const key = [
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
  ];
  if (!signedByCa) {
    openssl('req', '-x509', ...key, '-out', `${name}.pem`, '-days', '1', '-subj', `/CN=${cn}`);
    return;
  }
  openssl('req', ...key, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  writeFileSync(file(`${name}.ext`), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '1',
    '-extfile',
    `${name}.ext`,
  );
}

beforeAll(async () => {
  dir = tempDir('sim-tls');
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=test engine CA',
  );
  certificate('server', '127.0.0.1', true);
  certificate('engine', 'engine', true);
  certificate('rogue', 'engine', false);
  sim = await startSimulator({
    fixture,
    dataDir: join(dir.dir, 'data'),
    basePort: 0,
    tls: { cert: file('server.pem'), key: file('server.key'), ca: file('ca.pem') },
  });
}, 30_000);

afterAll(async () => {
  await sim.stop();
  dir.remove();
});

const port = (): number => sim.hosts[0]!.port;

function clientTls(name?: string): ConnectionOptions {
  return {
    ca: readFileSync(file('ca.pem')),
    ...(name ? { cert: readFileSync(file(`${name}.pem`)), key: readFileSync(file(`${name}.key`)) } : {}),
  };
}

/** Whether a TLS client gets as far as CONNECTED. */
function tryConnect(options: ConnectionOptions): Promise<'connected' | 'refused'> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: port(), ...options });
    let received = '';
    socket.on('secureConnect', () => socket.write('CONNECT\naccept-version:1.2\nhost:vdsm\n\n\0'));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      if (received.startsWith('CONNECTED')) {
        socket.destroy();
        resolve('connected');
      }
    });
    socket.on('error', () => resolve('refused'));
    socket.on('close', () => resolve('refused'));
  });
}

test('a client with a certificate signed by the engine CA is served', async () => {
  expect(await tryConnect(clientTls('engine'))).toBe('connected');
  const peer = await RpcPeer.open(port(), clientTls('engine'));
  try {
    expect(await peer.call('StoragePool.getSpmStatus', { storagepoolID: fixture.pool.id })).toEqual({
      spmStatus: 'SPM',
      spmLver: 0,
      spmId: 1,
    });
  } finally {
    peer.close();
  }
});

test('a client without a certificate, or with one the CA did not sign, is refused', async () => {
  expect(await tryConnect(clientTls())).toBe('refused');
  expect(await tryConnect(clientTls('rogue'))).toBe('refused');
});

test("the project's client connects with mutual TLS", async () => {
  const connector = createVdsmConnector({
    tls: { cert: file('engine.pem'), key: file('engine.key'), ca: file('ca.pem') },
    requestTimeoutMs: 5000,
  });
  try {
    const api = connector.host({ hostId: fixture.hosts[0]!.id, address: '127.0.0.1', port: port() });
    expect(await api.hostGetConnectedStoragePools()).toEqual([fixture.pool.id]);
  } finally {
    await connector.close();
  }
});
