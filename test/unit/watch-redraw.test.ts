import { fitToScreen, screenRows } from '../../src/cli/commands/watch';

describe('watch redraws in place on a terminal', () => {
  test('a line takes as many screen rows as it wraps to', () => {
    expect(screenRows('', 80)).toBe(1);
    expect(screenRows('x'.repeat(80), 80)).toBe(1);
    expect(screenRows('x'.repeat(81), 80)).toBe(2);
    expect(screenRows('x'.repeat(200), 80)).toBe(3);
    // Characters, not UTF-16 units or bytes.
    expect(screenRows('…'.repeat(80), 80)).toBe(1);
  });

  test('a drawing that fits is shown whole', () => {
    const lines = ['head', 'a', 'b'];
    expect(fitToScreen(lines, 80, 24)).toEqual(lines);
  });

  test('a taller drawing is cut to the screen, its last line counting what was left out', () => {
    const lines = Array.from({ length: 30 }, (_, i) => `row ${i}`);
    const shown = fitToScreen(lines, 80, 10);
    expect(shown).toHaveLength(9);
    expect(shown.slice(0, 8)).toEqual(lines.slice(0, 8));
    expect(shown[8]).toBe('… 22 more lines (use --json or status for all)');
  });

  test('wrapped lines use up the screen faster', () => {
    const lines = Array.from({ length: 6 }, () => 'x'.repeat(100));
    const shown = fitToScreen(lines, 80, 8);
    // 7 usable rows: three 2-row lines, then the note.
    expect(shown).toEqual([...lines.slice(0, 3), '… 3 more lines (use --json or status for all)']);
    const rows = shown.reduce((sum, line) => sum + screenRows(line, 80), 0);
    expect(rows).toBeLessThanOrEqual(7);
  });
});
