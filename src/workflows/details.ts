/** Markdown for the Web UI's details panes. Pure functions: safe in workflow code. */
import type { TaskRow } from '../shared/messages';
import type { ImagePlan } from '../shared/commands';

const GiB = 1024 ** 3;

export function renderImagesDetails(title: string, images: ImagePlan[]): string {
  const rows = images.map(
    (i) =>
      `| ${i.alias} | \`${i.diskId}\` | ${(i.sizeBytes / GiB).toFixed(0)} GiB | ${i.postZero ? 'yes' : 'no'} | ${i.discard ? 'yes' : 'no'} |`,
  );
  return [
    `**${title}**`,
    '',
    '| Disk | Image group | Size | Wipe after delete | Discard |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

export function renderTaskTable(heading: string, rows: TaskRow[]): string {
  const lines = rows.map(
    (r) =>
      `| ${r.imageAlias} | ${r.vdsmTaskId ? `\`${r.vdsmTaskId}\`` : '—'} | ${r.state} | ${r.status} | ${r.result} | ${r.code ?? ''} ${r.message ?? ''} |`,
  );
  return [
    heading,
    '',
    '| Disk | VDSM task | AsyncTaskState | AsyncTaskStatus | AsyncTaskResult | VDSM code / message |',
    '|---|---|---|---|---|---|',
    ...lines,
  ].join('\n');
}
