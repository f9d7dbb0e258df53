import type { Analytics } from '@/lib/api';

export type Day = Analytics['daily'][number];

/** YYYY-MM-DD of a time in UTC: the API's days are UTC days. */
export const utcDay = (t: Date) => t.toISOString().slice(0, 10);

/**
 * The chart's series: one point per UTC day for the `days` days ending today
 * (or on the API's last day, should its clock be ahead), the API's figures
 * where it has them and zeros elsewhere, so the line always reaches today
 * even when the answer stops short of it or skips days.
 */
export function activitySeries(daily: Day[], days = 30, now = new Date()): Day[] {
  const byDate = new Map(daily.map((d) => [d.date, d]));
  let end = utcDay(now);
  for (const d of daily) if (/^\d{4}-\d{2}-\d{2}$/.test(d.date) && d.date > end) end = d.date;
  const last = Date.parse(`${end}T00:00:00Z`);
  const out: Day[] = [];
  for (let i = days - 1; i >= 0; i--) {
    const date = utcDay(new Date(last - i * 86_400_000));
    out.push(byDate.get(date) ?? { date, sent: 0, opened: 0, clicked: 0, bounced: 0 });
  }
  return out;
}
