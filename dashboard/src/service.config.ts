// One place for what the dashboard says about the service: its name, colours
// and fonts (src/brand.ts, shared with the landing page) and navigation. Plan
// tiers are not here: they come from GET
// /api/v1/billing/plans, the API's single source.
import type { LucideIcon } from 'lucide-react';
import {
  BarChart3,
  CreditCard,
  FileText,
  FormInput,
  KeyRound,
  LayoutDashboard,
  Mail,
  Settings,
  Users,
  Workflow,
} from 'lucide-react';
import { brand } from './brand';

export type NavItem = {
  href: string;
  label: string;
  icon: LucideIcon;
  /** false: the page exists and says plainly that it is not built yet */
  built: boolean;
};

export const service = {
  ...brand,
  navigation: [
    { href: '/', label: 'Dashboard', icon: LayoutDashboard, built: true },
    { href: '/flows', label: 'Flows', icon: Workflow, built: false },
    { href: '/campaigns', label: 'Campaigns', icon: Mail, built: false },
    { href: '/contacts', label: 'Contacts', icon: Users, built: true },
    { href: '/templates', label: 'Templates', icon: FileText, built: true },
    { href: '/analytics', label: 'Analytics', icon: BarChart3, built: false },
    { href: '/forms', label: 'Forms', icon: FormInput, built: false },
    { href: '/api-keys', label: 'API Keys', icon: KeyRound, built: false },
    { href: '/billing', label: 'Billing', icon: CreditCard, built: false },
    { href: '/settings', label: 'Settings', icon: Settings, built: false },
  ] satisfies NavItem[],
} as const;

export type ServiceConfig = typeof service;
