// A static export served by the project's nginx at / (scripts/landing.sh
// builds it; scripts/stack.sh copies it into the instance's web root).
/** @type {import('next').NextConfig} */
const nextConfig = {
  output: 'export',
  trailingSlash: false,
  images: { unoptimized: true },
  poweredByHeader: false,
  reactStrictMode: true,
  // The build runs on 2-core machines next to the test stacks: one worker.
  // externalDir: the brand (name, colours, fonts) is the dashboard's
  // src/brand.ts, imported rather than copied.
  experimental: { cpus: 1, workerThreads: false, externalDir: true },
  eslint: { ignoreDuringBuilds: true },
};

export default nextConfig;
