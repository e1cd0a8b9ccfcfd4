/**
 * JSON-RPC bodies a hostile peer sends the simulator (issue 14): ids nested deep or beyond a
 * double's precision, and method names chosen to fill memory. Each gets an answer and the
 * simulator keeps serving.
 */
import { generateDataCenter } from '../src/fixture';
import { startSimulator, type Simulator } from '../src/vdsm-sim';
import { MAX_JSON_DEPTH, scanJsonText } from '../src/vdsm-sim/json-text';
import { UNKNOWN_METHODS_KEY } from '../src/vdsm-sim/simulator';
import { RpcPeer, tempDir } from './vdsm-sim-helpers';

let sim: Simulator;
let dir: { remove(): void };
const peers: RpcPeer[] = [];

beforeAll(async () => {
  const d = tempDir('sim-hostile-rpc');
  dir = d;
  sim = await startSimulator({ fixture: generateDataCenter({ vmCount: 1 }), dataDir: d.dir, basePort: 0 });
});

afterEach(() => {
  for (const peer of peers.splice(0)) peer.close();
});

afterAll(async () => {
  await sim.stop();
  dir.remove();
});

async function peer(): Promise<RpcPeer> {
  const p = await RpcPeer.open(sim.hosts[0]!.port);
  peers.push(p);
  return p;
}

/** Sends `body` and returns the text of the next answer on the reply queue. */
async function answerTo(p: RpcPeer, body: string): Promise<string> {
  p.sendBody(body);
  const reply = await p.stomp.next((f) => f.command === 'MESSAGE' && f.headers.subscription === 'replies');
  return reply.body.toString('utf8');
}

function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

describe('ids', () => {
  test("an id nested 100k deep is answered -32700 (as VDSM's json gives up), and the host keeps serving", async () => {
    const p = await peer();
    const errors: string[] = [];
    const answer = JSON.parse(
      await answerTo(p, `{"jsonrpc":"2.0","method":"Host.ping2","params":{},"id":${nested(100_000)}}`),
    ) as { id: unknown; error: { code: number } };
    errors.push(String(answer.error.code));
    expect(answer).toMatchObject({ id: null, error: { code: -32700 } });
    expect(await p.call('Host.ping2')).toBe(true);
  });

  test('an id that is an array or object (within the depth limit) is an invalid request, -32600', async () => {
    const p = await peer();
    for (const id of ['[1]', '{"a":1}', nested(MAX_JSON_DEPTH - 1), 'true']) {
      const answer = JSON.parse(
        await answerTo(p, `{"jsonrpc":"2.0","method":"Host.ping2","params":{},"id":${id}}`),
      ) as { id: unknown; error: { code: number; message: string } };
      expect(answer).toMatchObject({ id: null, error: { code: -32600 } });
      expect(answer.error.message).toContain('invalid request id');
    }
    expect(await p.call('Host.ping2')).toBe(true);
  });

  test('numeric ids come back exactly as sent, past 2^53 too, alone and in a batch', async () => {
    const p = await peer();
    for (const id of ['12345678901234567890123', '-9007199254740993', '1.0', '1e400', '0']) {
      const text = await answerTo(p, `{"jsonrpc":"2.0","method":"Host.ping2","params":{},"id":${id}}`);
      expect(text).toBe(`{"jsonrpc":"2.0","id":${id},"result":true}`);
    }
    const batch = await answerTo(
      p,
      '[{"jsonrpc":"2.0","method":"Host.ping2","params":{},"id":"s"},' +
        '{"jsonrpc":"2.0","method":"No.such","params":{},"id":99999999999999999999}]',
    );
    expect(batch).toMatch(
      /^\[\{"jsonrpc":"2.0","id":"s","result":true\},\{"jsonrpc":"2.0","id":99999999999999999999,"error":/,
    );
  });

  test('scanJsonText finds the id of each request, escaped keys and nested "id"s included', () => {
    const facts = scanJsonText(
      '[{"params":{"id":1},"\\u0069d":20000000000000000001}, "x", {"id":"s"}, {"a":[1,{"id":3}],"id":-4e2}]',
    );
    expect(facts.tooDeep).toBe(false);
    expect([...facts.numericIds]).toEqual([
      [0, '20000000000000000001'],
      [3, '-4e2'],
    ]);
    expect(scanJsonText(nested(MAX_JSON_DEPTH + 1)).tooDeep).toBe(true);
    expect(scanJsonText(`["${'['.repeat(10_000)}"]`).tooDeep).toBe(false); // brackets in a string
  });
});

describe('method names', () => {
  test('unknown method names are counted, but only so many: the rest share one counter', async () => {
    const p = await peer();
    const hostId = sim.hosts[0]!.hostId;
    sim.resetCounters();
    // Long names are never kept (the were 1 MiB each); 64 short ones are, the rest summed.
    const long = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 70; i += 1) {
      const answer = await p.request(`${long}${i}`);
      expect(answer.error?.code).toBe(-32601);
    }
    for (let i = 0; i < 100; i += 1) await p.request(`No.such${i}`);
    const verbs = sim.counters().hosts[hostId]!.verbs;
    expect(Object.keys(verbs).every((name) => name.length <= 128)).toBe(true);
    expect(Object.keys(verbs)).toHaveLength(65);
    expect(verbs[UNKNOWN_METHODS_KEY]).toBe(70 + 100 - 64);
    expect(verbs['No.such0']).toBe(1);
    expect(verbs['No.such63']).toBe(1);
    // Known verbs are always counted by name.
    await p.call('Host.ping2');
    expect(sim.counters().hosts[hostId]!.verbs['Host.ping2']).toBe(1);
  });
});
