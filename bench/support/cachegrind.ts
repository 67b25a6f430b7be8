/** Reading valgrind's cachegrind summary, shared by the tools that count rather than time (bench/*-cachegrind.ts). */

/** The figure of `label` (a regular expression: `I\s+refs`, `D1\s+misses`) in the summary cachegrind writes to stderr. */
export function cachegrindCount(report: string, label: string): number {
  const line = report.split('\n').find((text) => new RegExp(`==\\d+== ${label}:`).test(text))
  const figure = line?.split(':')[1]?.trim().split(/\s+/)[0]
  if (figure === undefined) throw new Error(`no "${label}" in valgrind's report:\n${report}`)
  return Number(figure.replaceAll(',', ''))
}
