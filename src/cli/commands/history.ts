/**
 * `history export <workflowId> [--out DIR]`: replay fixtures of a command's latest run and of each
 * of its steps (RemoveImage child workflows). Per workflow, two files in DIR (default
 * test/fixtures/exported-histories, which test/replay.test.ts replays), named as `npm run record-histories` names its fixtures: the workflow
 * id with every character outside [A-Za-z0-9.-] replaced by `_` (RemoveVm/<vmId>/RemoveImage/<diskId>
 * → RemoveVm_<vmId>_RemoveImage_<diskId>):
 *
 *   <name>.json       the event history exactly as historyToJSON (@temporalio/common/lib/proto-utils)
 *                     writes it; parsed, it is what Worker.runReplayHistory(options, history,
 *                     workflowId) and historyFromJSON take.
 *   <name>.meta.json  { "format": 1, "workflowId", "workflowType", "status" (RUNNING = a partial
 *                     history), "file": "<name>.json", "runId", "parentWorkflowId" (null for the
 *                     command itself), "exportedAt" }. workflowId, workflowType, status and file
 *                     are the fields of an entry of test/fixtures/histories/index.json
 *                     (tools/record-histories/sets.ts) but for its scenario name.
 *
 * The sidecar carries the real workflow id, which replay needs (child ids derive from it) and the
 * file name cannot give back. Existing files of the same workflow are overwritten.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { fetchCommandHistories } from '../../client';
import { describeCommand, parseCommandId, withTemporal } from '../context';

const DEFAULT_OUT_DIR = 'test/fixtures/exported-histories';
const META_FORMAT = 1;

export interface HistoryFixtureMeta {
  format: typeof META_FORMAT;
  workflowId: string;
  workflowType: string;
  status: string;
  file: string;
  runId: string;
  parentWorkflowId: string | null;
  exportedAt: string;
}

function historyFileBaseName(workflowId: string): string {
  return workflowId.replace(/[^A-Za-z0-9.-]/g, '_');
}

export function registerHistoryCommand(program: Command): void {
  const history = program.command('history').description('workflow histories (for replay tests)');
  history
    .command('export')
    .description("write a command's event history and its steps' as replay fixtures (JSON + .meta.json each)")
    .argument('<workflowId>', 'e.g. RemoveVm/<vmId>', parseCommandId)
    .option('--out <dir>', 'output directory', DEFAULT_OUT_DIR)
    .action(async (workflowId: string, flags: { out: string }) => {
      const histories = await withTemporal(async ({ client }) => {
        // Not found is the user's mistake (exit 2), as for the other commands.
        await describeCommand(client, workflowId);
        return fetchCommandHistories(client, workflowId);
      });
      const outDir = resolve(flags.out);
      mkdirSync(outDir, { recursive: true });
      const exportedAt = new Date().toISOString();
      for (const h of histories) {
        const name = historyFileBaseName(h.workflowId);
        const meta: HistoryFixtureMeta = {
          format: META_FORMAT,
          workflowId: h.workflowId,
          workflowType: h.workflowType,
          status: h.executionStatus,
          file: `${name}.json`,
          runId: h.runId,
          parentWorkflowId: h.parentWorkflowId,
          exportedAt,
        };
        writeFileSync(join(outDir, meta.file), `${historyToJSON(h.history)}\n`);
        writeFileSync(join(outDir, `${name}.meta.json`), `${JSON.stringify(meta, null, 2)}\n`);
        console.log(
          `${join(outDir, meta.file)}  ${h.workflowType} ${h.workflowId}${h.executionStatus === 'RUNNING' ? ' (still running: partial history)' : ''}`,
        );
      }
    });
}
