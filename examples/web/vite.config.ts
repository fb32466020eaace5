import { cpSync, createReadStream, existsSync, statSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin, type UserConfig } from "vite";

const HERE = dirname(fileURLToPath(import.meta.url));
/**
 * The embedded default models, inside the installed @proj/clip and @proj/unclip packages (`npm run train:*` writes
 * them there): served at /models/ and copied into dist/models/.
 */
const require = createRequire(import.meta.url);
const packageDir = (name: string): string => dirname(require.resolve(`${name}/package.json`));
const MODEL_PATHS: Record<string, string> = {
  "clip.safetensors": join(packageDir("@proj/clip"), "models/clip.safetensors"),
  "prior.safetensors": join(packageDir("@proj/unclip"), "models/prior.safetensors"),
  "decoder.safetensors": join(packageDir("@proj/unclip"), "models/decoder.safetensors"),
  "upsampler.safetensors": join(packageDir("@proj/unclip"), "models/upsampler.safetensors"),
};

/** Serves the packages' models/*.safetensors at /models/ in `vite dev` and `vite preview`, and copies them into dist/models/. */
function repositoryModels(): Plugin {
  const serve = (middlewares: { use: (path: string, fn: (req: { url?: string }, res: ServerResponse, next: () => void) => void) => void }): void => {
    middlewares.use("/models", (req, res, next) => {
      const name = (req.url ?? "").replace(/^\//, "").split("?")[0]!;
      const path = MODEL_PATHS[name];
      if (path === undefined || !existsSync(path)) return next();
      res.setHeader("Content-Type", "application/octet-stream");
      res.setHeader("Content-Length", String(statSync(path).size));
      createReadStream(path).pipe(res);
    });
  };
  return {
    name: "repository-models",
    configureServer: (server) => serve(server.middlewares),
    configurePreviewServer: (server) => serve(server.middlewares),
    writeBundle(options) {
      for (const [name, path] of Object.entries(MODEL_PATHS)) if (existsSync(path)) cpSync(path, join(options.dir ?? "dist", "models", name));
    },
  };
}

/** The app's config; `extraPlugins` run on the page's and the worker's bundles (the browser test records modules). */
export function webConfig(extraPlugins: Plugin[] = []): UserConfig {
  return {
    root: HERE,
    base: "./",
    plugins: [repositoryModels(), ...extraPlugins],
    worker: { format: "es", plugins: () => [...extraPlugins] },
    build: { target: "es2022", chunkSizeWarningLimit: 4000 },
  };
}

export default defineConfig(webConfig());
