/**
 * StompConnection against a hostile peer (issue 14): a half-sent frame is not kept after the
 * connection closes, a server tells the peer why it drops it, an idle peer is dropped.
 */
import net from 'node:net';
import { type ParserLimits, StompConnection, StompIdleTimeoutError, StompParser } from '../src/stomp';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** `ours` wrapped in a StompConnection, `peer` a raw socket, over 127.0.0.1. */
async function pair(
  options: { limits?: ParserLimits; answerProtocolErrors?: boolean } = {},
): Promise<{ connection: StompConnection; peer: net.Socket; received: () => string }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const peer = net.connect({ host: '127.0.0.1', port });
  peer.on('error', () => undefined);
  const ours = await accepted;
  const connection = new StompConnection(ours, options);
  connection.on('error', () => undefined);
  let text = '';
  peer.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  cleanups.push(() => {
    connection.destroy();
    peer.destroy();
    server.close();
  });
  return { connection, peer, received: () => text };
}

function closed(connection: StompConnection): Promise<void> {
  return connection.closed ? Promise.resolve() : new Promise((resolve) => connection.once('close', resolve));
}

function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (condition()) resolve();
      else if (Date.now() > deadline) reject(new Error(`not within ${timeoutMs} ms`));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

describe('a half-sent frame', () => {
  test('is released when the connection closes', async () => {
    const { connection, peer } = await pair();
    // 512 KiB of a declared 1 MiB body, then the peer goes away.
    peer.write(`SEND\ndestination:x\ncontent-length:${1024 * 1024}\n\n`);
    peer.write(Buffer.alloc(512 * 1024, 0x61));
    await until(() => connection.bufferedBytes >= 512 * 1024);
    peer.destroy();
    await closed(connection);
    expect(connection.bufferedBytes).toBe(0);
  });

  test('StompParser.release() drops the buffered part and leaves the parser unusable', () => {
    const parser = new StompParser();
    parser.push(Buffer.from('SEND\ncontent-length:100\n\nabc'));
    expect(parser.bufferedBytes).toBe(3);
    parser.release();
    expect(parser.bufferedBytes).toBe(0);
    expect(() => parser.push(Buffer.from('d'))).toThrow('parser released');
  });
});

describe('answerProtocolErrors (the server side)', () => {
  test('an over-limit frame gets an ERROR frame naming the limit, then the connection closes', async () => {
    const { connection, peer, received } = await pair({
      limits: { maxFrameBytes: 1024 },
      answerProtocolErrors: true,
    });
    const errors: Error[] = [];
    connection.on('error', (err) => errors.push(err));
    peer.write(`SEND\ndestination:x\ncontent-length:4096\n\n`);
    await closed(connection);
    await until(() => received().includes('\0'));
    expect(received()).toMatch(/^ERROR\nmessage:frame larger than 1024 bytes\n/);
    expect(errors.map((e) => e.name)).toEqual(['StompProtocolError']);
    expect(connection.bufferedBytes).toBe(0);
  });

  test('too many headers and an over-long header line are refused the same way', async () => {
    const headers = await pair({ limits: { maxHeaders: 4 }, answerProtocolErrors: true });
    headers.peer.write(`SEND\n${['a', 'b', 'c', 'd', 'e'].map((h) => `${h}:1\n`).join('')}\n`);
    await closed(headers.connection);
    await until(() => headers.received().includes('\0'));
    expect(headers.received()).toContain('message:too many headers');

    const line = await pair({ limits: { maxHeaderLineBytes: 64 }, answerProtocolErrors: true });
    line.peer.write(`SEND\ndestination:${'x'.repeat(100)}`);
    await closed(line.connection);
    await until(() => line.received().includes('\0'));
    expect(line.received()).toContain('message:header line too long');
  });

  test('without it (the client side), the connection just closes', async () => {
    const { connection, peer, received } = await pair({ limits: { maxFrameBytes: 1024 } });
    peer.write(`SEND\ndestination:x\ncontent-length:4096\n\n`);
    await closed(connection);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received()).toBe('');
  });
});

describe('expectTrafficWithin', () => {
  test('drops a silent peer; one that keeps sending EOLs stays', async () => {
    const silent = await pair();
    const beating = await pair();
    const silentErrors: Error[] = [];
    silent.connection.on('error', (err) => silentErrors.push(err));
    silent.connection.expectTrafficWithin(200);
    beating.connection.expectTrafficWithin(200);
    const beat = setInterval(() => beating.peer.write('\n'), 40);
    try {
      await closed(silent.connection);
      expect(silentErrors[0]).toBeInstanceOf(StompIdleTimeoutError);
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(beating.connection.closed).toBe(false);
    } finally {
      clearInterval(beat);
    }
  });
});
