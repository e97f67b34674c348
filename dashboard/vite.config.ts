import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// Served at /dashboard/ on the API's own origin (the local server under `make run`, CloudFront
// in production). The build emits no inline script, so a strict Content-Security-Policy holds.
export default defineConfig({
  base: "/dashboard/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  // Component tests (`npm test`, run by pytest: tests/unit/test_dashboard_components.py).
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.tsx", "src/**/*.test.ts"],
    setupFiles: ["src/test/setup.ts"],
    restoreMocks: true,
  },
});
