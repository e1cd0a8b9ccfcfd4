/** The chaos run's Markdown summary: scenarios × invariants, then each scenario's faults and findings. */
import { INVARIANTS, type ChaosReport, type InvariantName } from './types';

/** Markdown summary: scenarios × invariants. */
export function renderChaosReport(report: ChaosReport): string {
  const names = Object.keys(INVARIANTS) as InvariantName[];
  const lines = [
    `# ovirt-tasks chaos — seed ${report.seed} (replay: \`npm run chaos -- --seed ${report.seed}\`)`,
    '',
    `| scenario | commands | images | outcomes | ${names.join(' | ')} | s |`,
    `|---|---|---|---|${names.map(() => '---').join('|')}|---|`,
    ...report.scenarios.map((s) => {
      const cells = names.map((n) => {
        const count = s.violations.filter((v) => v.invariant === n).length;
        return count ? `✗ ${count}` : '✓';
      });
      const outcomes = Object.entries(s.outcomes)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ');
      const kinds = Object.entries(s.kinds)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ');
      return `| ${s.name} | ${kinds || s.commands} | ${s.images} | ${outcomes} | ${cells.join(' | ')} | ${s.elapsedS} |`;
    }),
    '',
    ...names.map((n) => `- **${n}**: ${INVARIANTS[n]}`),
  ];
  for (const s of report.scenarios) {
    lines.push('', `### ${s.name}`, '');
    for (const f of s.faults) lines.push(`- ${f.atS} s ${f.fault}: ${f.outcome}`);
    if (s.recoveryTailS !== undefined) {
      lines.push(
        `- recovery tail: the last command in flight at the last restart ended ${s.recoveryTailS} s after it`,
      );
    }
    if (s.slowdown) {
      const { calm, faulted, p50Ratio, maxRatio } = s.slowdown;
      const fmt = (d: typeof calm): string => `p50 ${d.p50S} s, p95 ${d.p95S} s, max ${d.maxS} s`;
      lines.push(
        `- slowdown (submit to close, same commands): without ${fmt(calm)}; with ${fmt(faulted)} (p50 ×${p50Ratio}, max ×${maxRatio})`,
      );
    }
    for (const v of s.violations) lines.push(`- ✗ ${v.invariant}: ${v.detail}`);
    for (const n of s.notes) lines.push(`- note: ${n}`);
  }
  lines.push(
    '',
    report.ok ? `All invariants hold (${report.elapsedS} s).` : `VIOLATIONS (${report.elapsedS} s).`,
  );
  return lines.join('\n');
}
