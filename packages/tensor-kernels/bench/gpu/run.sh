#!/usr/bin/env bash
# Runs the packed kernel benchmark on a GPU machine (see pack.sh). Usage: bash .gpu/run.sh [bench options]
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
for f in "$dir"/debs/*.deb; do dpkg -x "$f" /; done
ldconfig
mkdir -p /tmp/gpubench/bin
xz -dc "$dir/node.xz" > /tmp/gpubench/bin/node && chmod +x /tmp/gpubench/bin/node
xz -dc "$dir/dawn.node.xz" > "$dir/node_modules/webgpu/dist/linux-x64/dawn.node"
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] || icd="$(ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -1)"
export VK_ICD_FILENAMES="$icd"
echo "node $(/tmp/gpubench/bin/node --version), Vulkan ICD: $VK_ICD_FILENAMES"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
cd "$dir" && /tmp/gpubench/bin/node bench.mjs --backends webgpu "$@"
