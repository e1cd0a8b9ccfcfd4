/**
 * What the client commands share: settings, argument parsers, the inventory and the Temporal
 * connection. Arguments are parsed by commander before any action runs, and actions open the
 * inventory or connect only after their settings loaded: bad input never reaches either (exit 2).
 */
import { InvalidArgumentError } from 'commander';
import {
  Client,
  WorkflowNotFoundError,
  type ClientInterceptors,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import { CommandWorkflowId, WORKFLOW_ID_RULE } from '../client';
import { ConfigError, loadConfig } from '../config/config';
import type { InventoryRepository } from '../inventory/port';
import { RemoveDiskInput, RemoveVmInput } from '../shared/commands';
import { connectClient } from '../shared/temporal-connection';
import { UsageError } from './exit-codes';

const DEFAULT_UI_URL = 'http://localhost:8233';

export interface CliSettings {
  taskQueue: string;
  inventoryUrl: string;
  /** Base of the Temporal Web UI links the commands print. */
  uiBaseUrl: string;
  /** OTLP traces (as the worker's variables say): `submit` starts the command's trace. */
  tracing?: { otlpTracesUrl: string; serviceName: string };
}

/** OVIRT_TASKS_* settings (as the worker reads them) and OVIRT_TASKS_UI_URL; errors name the variable. */
export function loadCliSettings(env: NodeJS.ProcessEnv = process.env): CliSettings {
  // The client commands never open VDSM connections: its TLS files are the worker's to check.
  const config = loadConfig(env, {}, { checkFiles: false });
  const uiBaseUrl = env.OVIRT_TASKS_UI_URL || DEFAULT_UI_URL;
  if (!/^https?:\/\/[^\s/]+/.test(uiBaseUrl))
    throw new ConfigError('invalid configuration:\n  OVIRT_TASKS_UI_URL: must be an http:// or https:// URL');
  // The worker's default service name would mislabel the CLI's spans.
  const tracing = config.tracing && {
    ...config.tracing,
    serviceName: env.OTEL_SERVICE_NAME || 'ovirt-tasks-cli',
  };
  return {
    taskQueue: config.taskQueue,
    inventoryUrl: config.inventoryUrl,
    uiBaseUrl,
    ...(tracing ? { tracing } : {}),
  };
}

/**
 * Opens the inventory for `use` and closes it after: read only unless `write` (unlock), never
 * created or migrated (the worker's job). A missing, unmigrated or newer inventory exits 2, saying
 * what to run.
 */
export async function withInventory<T>(
  url: string,
  use: (inventory: InventoryRepository) => Promise<T>,
  options: { write?: boolean } = {},
): Promise<T> {
  // Loaded on use: the database drivers are not needed by --help or the Temporal-only commands.
  const { InventoryNotReadyError, openExistingInventory } = await import('../inventory');
  let inventory: InventoryRepository;
  try {
    inventory = await openExistingInventory(url, { readOnly: !options.write });
  } catch (err) {
    if (err instanceof InventoryNotReadyError)
      throw new ConfigError(
        `invalid configuration:\n  OVIRT_TASKS_INVENTORY_URL: ${err.message} (\`ovirt-tasks dev\` keeps its inventory in <data>/inventory.db)`,
      );
    throw err;
  }
  try {
    return await use(inventory);
  } finally {
    await inventory.close();
  }
}

/** withInventory for the command that writes (`unlock`): read-write, still never migrated. */
export function withWritableInventory<T>(
  url: string,
  use: (inventory: InventoryRepository) => Promise<T>,
): Promise<T> {
  return withInventory(url, use, { write: true });
}

/** Connects to Temporal as the `temporal` CLI would (TEMPORAL_*, temporal.toml) for `use`. */
export async function withTemporal<T>(
  use: (temporal: { client: Client; namespace: string }) => Promise<T>,
  options: { interceptors?: ClientInterceptors } = {},
): Promise<T> {
  const connected = await connectClient();
  const { connection, namespace } = connected;
  const client = options.interceptors
    ? new Client({ connection, namespace, interceptors: options.interceptors })
    : connected.client;
  try {
    return await use({ client, namespace });
  } finally {
    await connection.close();
  }
}

/** The latest run of a command. An id the server does not know is the user's mistake (exit 2). */
export async function describeCommand(
  client: Client,
  workflowId: string,
): Promise<WorkflowExecutionDescription> {
  try {
    return await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new UsageError(`no command ${workflowId} on this namespace`);
    throw err;
  }
}

const uuid = RemoveVmInput.shape.vmId;

/** `<workflowId>` arguments: the business ids ovirt-tasks gives its commands and their steps. */
export function parseCommandId(value: string): string {
  const parsed = CommandWorkflowId.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError(`${WORKFLOW_ID_RULE}.`);
  return parsed.data;
}

export function parseDiskId(value: string): string {
  const parsed = RemoveDiskInput.shape.diskId.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError('must be a UUID.');
  return parsed.data;
}

/** An entity given by id or by name (looked up in the inventory). */
export type NameRef = { id: string } | { name: string };
export type VmRef = NameRef;

/** What the CLI takes for an entity name; anything else is a typo, refused before anything is contacted. */
const ENTITY_NAME = /^[\p{L}\p{N}._-]{1,255}$/u;

function parseNameRef(value: string, what: string): NameRef {
  const id = uuid.safeParse(value);
  if (id.success) return { id: id.data };
  if (ENTITY_NAME.test(value)) return { name: value };
  throw new InvalidArgumentError(
    `must be a ${what} id (UUID) or a ${what} name (letters, digits, '.', '_', '-'; at most 255 characters).`,
  );
}

export function parseVmRef(value: string): VmRef {
  return parseNameRef(value, 'VM');
}

export function parseDomainRef(value: string): NameRef {
  return parseNameRef(value, 'storage domain');
}

/** A VM id; a name is looked up in the inventory, so only VMs it still holds have one. */
export async function resolveVm(inventory: InventoryRepository, ref: VmRef, flag = '--vm'): Promise<string> {
  if ('id' in ref) return ref.id;
  const matches = (await inventory.listVms()).filter((vm) => vm.name === ref.name);
  return oneMatch(matches, flag, 'VM', ref.name);
}

/** A storage domain id; a name is looked up in the inventory. */
export async function resolveDomain(
  inventory: InventoryRepository,
  ref: NameRef,
  flag = '--domain',
): Promise<string> {
  if ('id' in ref) return ref.id;
  const matches = (await inventory.listDomains()).filter((d) => d.name === ref.name);
  return oneMatch(matches, flag, 'storage domain', ref.name);
}

function oneMatch(matches: Array<{ id: string }>, flag: string, what: string, name: string): string {
  if (matches.length === 1) return matches[0]!.id;
  throw new UsageError(
    matches.length
      ? `${flag}: ${what} name ${name} is ambiguous (${matches.map((m) => m.id).join(', ')}): pass the id`
      : `${flag}: no ${what} named ${name} in the inventory`,
  );
}
