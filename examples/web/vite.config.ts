import { cpSync, createReadStream, existsSync, statSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin, type UserConfig } from "vite";

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository's trained default models (`npm run train:*` writes them): served at /models/ and copied into dist. */
const MODELS_DIR = resolve(HERE, "../../models");
const MODEL_FILES = ["clip.safetensors", "decoder.safetensors", "upsampler.safetensors", "prior.safetensors"];

/** Serves ../../models/*.safetensors at /models/ in `vite dev` and `vite preview`, and copies them into dist/models/. */
function repositoryModels(): Plugin {
  const serve = (middlewares: { use: (path: string, fn: (req: { url?: string }, res: ServerResponse, next: () => void) => void) => void }): void => {
    middlewares.use("/models", (req, res, next) => {
      const name = (req.url ?? "").replace(/^\//, "").split("?")[0]!;
      const path = join(MODELS_DIR, name);
      if (!MODEL_FILES.includes(name) || !existsSync(path)) return next();
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
      const present = MODEL_FILES.filter((name) => existsSync(join(MODELS_DIR, name)));
      for (const name of present) cpSync(join(MODELS_DIR, name), join(options.dir ?? "dist", "models", name));
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
