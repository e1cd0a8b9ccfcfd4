import { createServer } from 'node:net';

/** Whether `port` can be bound on `host` right now. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/*
 * Ports handed to another process (the Temporal binary, a test's second life) are picked below
 * Linux's ephemeral range (32768-60999): the kernel gives ports in that range to every outgoing
 * connection and every listen(0), so a port found free there can be taken by anyone before it is
 * bound. CI lost a dev-server start to exactly that race.
 */
const PICK_FROM = 20_000;
const PICK_TO = 32_000;
const ATTEMPTS = 200;

/** A port free now, outside the ephemeral range (still: callers bind it soon). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = PICK_FROM + Math.floor(Math.random() * (PICK_TO - PICK_FROM));
    if (await isPortFree(port, host)) return port;
  }
  throw new Error(`no free port found on ${host} in ${PICK_FROM}-${PICK_TO} after ${ATTEMPTS} attempts`);
}
