'use client';
// Loaded on demand (next/dynamic) so recharts stays out of the first load.
import { Area, AreaChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { Analytics } from '@/lib/api';

export default function ActivityChart({ daily }: { daily: Analytics['daily'] }) {
  return (
    <ResponsiveContainer width="100%" height="100%">
      <AreaChart data={daily} margin={{ top: 8, right: 8, bottom: 0, left: -16 }}>
        <defs>
          <linearGradient id="fsSent" x1="0" y1="0" x2="0" y2="1">
            <stop offset="0%" stopColor="#f43f5e" stopOpacity={0.25} />
            <stop offset="100%" stopColor="#f43f5e" stopOpacity={0} />
          </linearGradient>
          <linearGradient id="fsOpened" x1="0" y1="0" x2="0" y2="1">
            <stop offset="0%" stopColor="#fb923c" stopOpacity={0.25} />
            <stop offset="100%" stopColor="#fb923c" stopOpacity={0} />
          </linearGradient>
        </defs>
        <CartesianGrid vertical={false} stroke="currentColor" strokeOpacity={0.08} />
        <XAxis dataKey="date" tickLine={false} axisLine={false} fontSize={12} tickFormatter={(d: string) => d.slice(5)} minTickGap={24} />
        <YAxis tickLine={false} axisLine={false} fontSize={12} allowDecimals={false} />
        <Tooltip contentStyle={{ borderRadius: 8, fontSize: 12 }} />
        <Area type="monotone" dataKey="sent" name="Sent" stroke="#f43f5e" strokeWidth={2} fill="url(#fsSent)" />
        <Area type="monotone" dataKey="opened" name="Opened" stroke="#fb923c" strokeWidth={2} fill="url(#fsOpened)" />
      </AreaChart>
    </ResponsiveContainer>
  );
}
