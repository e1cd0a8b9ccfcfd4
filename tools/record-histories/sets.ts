/**
 * The recorded replay sets under test/fixtures/histories: where they live and what their index.json
 * says. Read by test/replay.test.ts and written by `npm run record-histories` (main.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../src/dev/project-root';

export const HISTORIES_DIR = join(projectRoot(), 'test', 'fixtures', 'histories');
/** Index of the first set, recorded before sets existed (its scenarios are top-level folders). */
export const HISTORIES_INDEX = join(HISTORIES_DIR, 'index.json');

/** One recording: its index and the folder its `file` paths are relative to. */
export interface HistorySet {
  /** `.` for the first set, else its folder name under test/fixtures/histories. */
  name: string;
  dir: string;
  index: HistoriesIndex;
}

/** Every recorded set: the first one, then each sub-folder holding an index.json, by name. */
export function historySets(root = HISTORIES_DIR): HistorySet[] {
  const read = (dir: string): HistoriesIndex =>
    JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as HistoriesIndex;
  const sets: HistorySet[] = [];
  if (existsSync(join(root, 'index.json'))) sets.push({ name: '.', dir: root, index: read(root) });
  for (const entry of readdirSync(root, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const dir = join(root, entry.name);
    if (entry.isDirectory() && existsSync(join(dir, 'index.json'))) {
      sets.push({ name: entry.name, dir, index: read(dir) });
    }
  }
  return sets;
}

/** A set name is one file-safe folder name. */
export const SET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** One line of index.json: what test/replay.test.ts replays. */
export interface HistoryFixture {
  scenario: string;
  /** The real id: replay checks it (child ids, for one, are derived from it). */
  workflowId: string;
  workflowType: string;
  /** How the run closed: COMPLETED, FAILED, CANCELLED. */
  status: string;
  /** Relative to the set's folder (test/fixtures/histories for the first set). */
  file: string;
}

export interface HistoriesIndex {
  note: string;
  /** The set's name (absent in the first set). */
  set?: string;
  sdkVersion: string;
  scenarios: Array<{ name: string; description: string }>;
  fixtures: HistoryFixture[];
}

/** File-safe, still readable: `RemoveVm/<vm>/RemoveImage/<disk>` → `RemoveVm_<vm>_RemoveImage_<disk>`. */
export function fixtureFileName(workflowId: string): string {
  return `${workflowId.replace(/[^A-Za-z0-9.-]/g, '_')}.json`;
}
