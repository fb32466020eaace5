#!/usr/bin/env bash
# Packs the kernel benchmark for a GPU machine that has no Node.js and no network (the `device` machines):
# a single-file bundle of bench/bench.ts, the Node binary and Dawn's dawn.node (xz), the Vulkan loader's .deb.
# Output: <repo>/.gpu/ (git-ignored). Then, on the GPU machine, bench/gpu/run.sh runs it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
out="$repo/.gpu"
mkdir -p "$out/node_modules/webgpu/dist/linux-x64" "$out/debs"
npx esbuild "$here/../bench.ts" --bundle --platform=node --format=esm --target=node20 \
  --external:webgpu --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
  --outfile="$out/bench.mjs"
webgpu="$repo/node_modules/webgpu"
cp "$webgpu/package.json" "$webgpu/index.js" "$out/node_modules/webgpu/"
[ -f "$out/node.xz" ] || xz -T2 -6 -c "$(readlink -f "$(command -v node)")" > "$out/node.xz"
[ -f "$out/dawn.node.xz" ] || xz -T2 -6 -c "$webgpu/dist/linux-x64/dawn.node" > "$out/dawn.node.xz"
ls "$out"/debs/libvulkan1_*.deb >/dev/null 2>&1 || (cd "$out/debs" && apt-get download libvulkan1)
cp "$here/run.sh" "$out/run.sh"
du -sh "$out"
