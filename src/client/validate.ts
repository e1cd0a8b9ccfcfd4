/**
 * Validation at the edge of the typed client: every exported call checks its arguments with zod
 * before contacting anything, and a failure is an InvalidCommandInputError naming the field.
 */
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { describeZodError } from '../shared/commands';
import { MAX_TASK_QUEUE_NAME_LENGTH } from '../config/config';
import { workflowIds } from '../shared/names';
import { InvalidCommandInputError } from './errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const uuid = z
  .string()
  .regex(UUID, 'must be a UUID')
  .transform((s) => s.toLowerCase());

/** Commands a user submits, by the prefix of their workflow id. */
const COMMAND_PREFIXES = {
  RemoveVm: workflowIds.removeVm,
  RemoveDisk: workflowIds.removeDisk,
  AddDisk: workflowIds.addDisk,
  CreateSnapshot: workflowIds.createSnapshot,
  MoveDisk: workflowIds.moveDisk,
  CopyDisk: workflowIds.copyDisk,
  RemoveSnapshot: workflowIds.removeSnapshot,
} as const;
/** The task steps those commands run, one per image. */
const STEP_TYPES = [
  'RemoveImage',
  'AddImageFromScratch',
  'CreateSnapshotDisk',
  'CreateVolumeContainer',
  'CopyData',
  'PrepareMerge',
  'ColdMerge',
  'FinalizeMerge',
  'DestroyImage',
];

export const WORKFLOW_ID_RULE =
  'must be RemoveVm/<vmId>, RemoveDisk/<diskId>, AddDisk/<commandId>, CreateSnapshot/<commandId>, MoveDisk/<diskId>, CopyDisk/<commandId>, RemoveSnapshot/<snapshotId> or one of those followed by /RemoveImage/<diskId>, /AddImageFromScratch/<diskId>, /CreateSnapshotDisk/<diskId>, /CreateVolumeContainer/<diskId>, /CopyData/<diskId>, /PrepareMerge/<diskId>, /ColdMerge/<diskId>, /FinalizeMerge/<diskId> or /DestroyImage/<diskId>, ids being UUIDs';

/**
 * A command's or step's business workflow id, normalised (lower-case ids). Anything else is
 * refused: it would be quoted into queries and links, and no ovirt-tasks run has it.
 */
export const CommandWorkflowId = z.string().transform((value, ctx) => {
  const [type, id, stepType, stepId, ...rest] = value.split('/');
  const build = COMMAND_PREFIXES[type as keyof typeof COMMAND_PREFIXES] as
    ((id: string) => string) | undefined;
  const ok =
    build !== undefined &&
    UUID.test(id ?? '') &&
    rest.length === 0 &&
    (stepType === undefined || (STEP_TYPES.includes(stepType) && UUID.test(stepId ?? '')));
  if (!ok) {
    ctx.addIssue({ code: 'custom', message: WORKFLOW_ID_RULE });
    return z.NEVER;
  }
  const command = build(id!.toLowerCase());
  return stepType === undefined ? command : workflowIds.taskStep(command, stepType, stepId!.toLowerCase());
});

export const RunId = uuid;

/** A Temporal client: anything else would fail deep inside the SDK. */
export const TemporalClient = z.custom<Client>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { workflow?: { getHandle?: unknown } }).workflow?.getHandle === 'function',
  'must be a Temporal Client (@temporalio/client)',
);

export const TaskQueueName = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_TASK_QUEUE_NAME_LENGTH, `must be at most ${MAX_TASK_QUEUE_NAME_LENGTH} characters`);

/** Most runs `listCommands` returns at once (each is described: the summary lives there). */
export const MAX_LIST_LIMIT = 1000;

/** Parses `input` or throws an InvalidCommandInputError naming each bad field for `call`. */
export function parseInput<S extends z.ZodTypeAny>(schema: S, input: unknown, call: string): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success)
    throw new InvalidCommandInputError(`invalid ${call} input: ${describeZodError(parsed.error)}`);
  return parsed.data;
}
