/**
 * Every call the typed client exports validates its arguments (zod at the edge) and refuses bad
 * ones with an InvalidCommandInputError naming the field, before contacting anything: the fake
 * client below records every handle asked for.
 */
import type { Client } from '@temporalio/client';
import {
  cancelCommand,
  commandListQuery,
  fetchCommandHistories,
  InvalidCommandInputError,
  listCommands,
  queryCommandState,
  queryLiveCommandState,
  submitRemoveDisk,
  submitRemoveVm,
  webUiLink,
} from '../src/client';

const VM = '7f0a5c1e-3b7d-4c2a-9e61-0d5b8f3a2c11';
const DISK = '0c8e2d4a-51f6-4b3e-8a97-2e6d1c5b9f40';

function fakeClient(): { client: Client; asked: string[] } {
  const asked: string[] = [];
  const handle = {
    query: () => Promise.resolve({ tasks: [] }),
    cancel: () => Promise.resolve(),
    describe: () => Promise.reject(new Error('not in this test')),
  };
  const client = {
    workflow: {
      getHandle: (workflowId: string) => {
        asked.push(workflowId);
        return handle;
      },
      list: () => {
        asked.push('list');
        return [];
      },
    },
  } as unknown as Client;
  return { client, asked };
}

async function refusal(call: () => unknown): Promise<string> {
  try {
    await call();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidCommandInputError);
    return (err as Error).message;
  }
  throw new Error('the call was not refused');
}

describe('refused before anything is contacted, naming the field', () => {
  const { client, asked } = fakeClient();
  afterEach(() => expect(asked).toEqual([]));

  it.each<[string, (c: Client) => unknown, RegExp]>([
    [
      'queryCommandState, not an id',
      (c) => queryCommandState(c, 'web-01'),
      /workflowId: must be RemoveVm\/<vmId>/,
    ],
    ['queryCommandState, a quote', (c) => queryCommandState(c, `RemoveVm/${VM}'`), /workflowId: /],
    ['queryCommandState, not a string', (c) => queryCommandState(c, 42 as unknown as string), /workflowId: /],
    ['cancelCommand, an unknown command type', (c) => cancelCommand(c, `RemoveHost/${VM}`), /workflowId: /],
    [
      'cancelCommand, an unknown step type',
      (c) => cancelCommand(c, `RemoveVm/${VM}/Other/${DISK}`),
      /workflowId: /,
    ],
    [
      'queryLiveCommandState, trailing parts',
      (c) => queryLiveCommandState(c, `RemoveDisk/${DISK}/x/y/z`),
      /workflowId: /,
    ],
    [
      'fetchCommandHistories, a bad run id',
      (c) => fetchCommandHistories(c, `RemoveVm/${VM}`, 'latest'),
      /runId: must be a UUID/,
    ],
    ['listCommands, limit 0', (c) => listCommands(c, {}, 0), /limit: must be at least 1/],
    ['listCommands, limit beyond 1000', (c) => listCommands(c, {}, 1_000_000), /limit: must be at most 1000/],
    ['listCommands, a fractional limit', (c) => listCommands(c, {}, 2.5), /limit: must be an integer/],
    [
      'listCommands, a string limit',
      (c) => listCommands(c, {}, '5' as unknown as number),
      /limit: must be a number/,
    ],
    [
      'listCommands, an injected VM id',
      (c) => listCommands(c, { vmId: `x' OR VmId != '` }, 5),
      /vmId: must be a UUID/,
    ],
    [
      'listCommands, an unknown filter field',
      (c) => listCommands(c, { vm: VM } as never, 5),
      /Unrecognized key\(s\) in object: 'vm'/,
    ],
    [
      'submitRemoveVm, an empty task queue',
      (c) => submitRemoveVm(c, { vmId: VM }, { taskQueue: '' }),
      /options.taskQueue: must not be empty/,
    ],
    [
      'submitRemoveDisk, a task queue beyond Temporal’s limit',
      (c) => submitRemoveDisk(c, { diskId: DISK }, { taskQueue: 'q'.repeat(1001) }),
      /options.taskQueue: must be at most 1000 characters/,
    ],
    [
      'submitRemoveVm, an unknown option',
      (c) => submitRemoveVm(c, { vmId: VM }, { inventroy: {} } as never),
      /Unrecognized key\(s\) in object: 'inventroy'/,
    ],
    [
      'submitRemoveVm, an inventory that is not one',
      (c) => submitRemoveVm(c, { vmId: VM }, { inventory: {} as never }),
      /options.inventory: must be an InventoryRepository/,
    ],
  ])('%s', async (_what, call, message) => {
    expect(await refusal(() => call(client))).toMatch(message);
  });

  it.each<[string, () => unknown]>([
    ['queryCommandState', () => queryCommandState({} as Client, `RemoveVm/${VM}`)],
    ['cancelCommand', () => cancelCommand(undefined as unknown as Client, `RemoveVm/${VM}`)],
    ['listCommands', () => listCommands(null as unknown as Client, {}, 5)],
    [
      'fetchCommandHistories',
      () => fetchCommandHistories('localhost:7233' as unknown as Client, `RemoveVm/${VM}`),
    ],
    ['submitRemoveVm', () => submitRemoveVm({ workflow: {} } as unknown as Client, { vmId: VM })],
  ])('%s refuses something that is not a Temporal client', async (_call, call) => {
    expect(await refusal(call)).toMatch(/client: must be a Temporal Client/);
  });

  it('webUiLink and commandListQuery check their arguments too', async () => {
    expect(await refusal(() => webUiLink('ftp://ui', 'default', `RemoveVm/${VM}`))).toMatch(
      /uiBaseUrl: must be an http:\/\/ or https:\/\/ URL/,
    );
    expect(await refusal(() => webUiLink('http://ui', '', `RemoveVm/${VM}`))).toMatch(
      /namespace: must not be empty/,
    );
    expect(await refusal(() => webUiLink('http://ui', 'default', `RemoveVm/${VM}`, 'run'))).toMatch(
      /runId: must be a UUID/,
    );
    expect(await refusal(() => commandListQuery({ commandStatus: 'DONE' as never }))).toMatch(
      /commandStatus: /,
    );
  });
});

describe('valid ids pass, normalised', () => {
  it('command and step ids of every command type reach the server in lower case', async () => {
    const { client, asked } = fakeClient();
    const upper = VM.toUpperCase();
    await queryCommandState(client, `RemoveVm/${upper}`);
    await cancelCommand(client, `AddDisk/${VM}`);
    await queryCommandState(client, `CreateSnapshot/${VM}/CreateSnapshotDisk/${DISK.toUpperCase()}`);
    await queryCommandState(client, `AddDisk/${VM}/AddImageFromScratch/${DISK}`);
    await queryCommandState(client, `RemoveDisk/${DISK}/RemoveImage/${DISK}`);
    expect(asked).toEqual([
      `RemoveVm/${VM}`,
      `AddDisk/${VM}`,
      `CreateSnapshot/${VM}/CreateSnapshotDisk/${DISK}`,
      `AddDisk/${VM}/AddImageFromScratch/${DISK}`,
      `RemoveDisk/${DISK}/RemoveImage/${DISK}`,
    ]);
    expect(webUiLink('http://ui/', 'default', `RemoveVm/${VM}`)).toBe(
      `http://ui/namespaces/default/workflows/${encodeURIComponent(`RemoveVm/${VM}`)}`,
    );
  });
});
