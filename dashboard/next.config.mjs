// A static export served by the project's nginx at /app/ (scripts/dashboard.sh
// builds it; scripts/stack.sh copies it into the instance's web root).
/** @type {import('next').NextConfig} */
const nextConfig = {
  output: 'export',
  basePath: '/app',
  trailingSlash: false,
  images: { unoptimized: true },
  poweredByHeader: false,
  reactStrictMode: true,
  // The build runs on 2-core machines next to the test stacks: one worker.
  experimental: { cpus: 1, workerThreads: false },
  eslint: { ignoreDuringBuilds: true },
};

export default nextConfig;
