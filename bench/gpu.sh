#!/usr/bin/env bash
# GPU backend benchmark, one command on a machine with a GPU: verifies DPO-like and
# token-level PPO-like fused kernels (with gradients) against the f64 interpreter,
# then times them at N = 10^6, 10^7, 10^8 rows / tokens and prints the achieved GB/s
# next to a device-to-device copy of the same traffic.
#
# Usage: bench/gpu.sh [--build] [--max N] [--repeats R]
#   --build   build (and strip) target/release/plumb-gpu-bench first; also done when
#             the binary is missing and cargo exists. Without cargo (a GPU machine
#             with no toolchain), carry the prebuilt binary: it needs only glibc ≥ 2.35
#             and a Vulkan driver.
# The Vulkan loader comes from the system, else from target/vulkan/libvulkan.so.1
# (copy Debian's from the libvulkan1 package). Where the installed Vulkan drivers
# give no adapter, NVIDIA's EGL (then GLX) library is tried as the driver through
# a manifest written to target/vulkan/.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/plumb-gpu-bench
build=0
if [ "${1:-}" = "--build" ]; then
    build=1
    shift
fi
if [ "$build" = 1 ] || { [ ! -x "$bin" ] && command -v cargo >/dev/null; }; then
    cargo build --release --locked -q -p plumb-gpu --bin plumb-gpu-bench
    strip "$bin" 2>/dev/null || true
fi
if [ ! -x "$bin" ]; then
    echo "error: $bin is missing and cargo is not installed; build it on another machine and copy it here" >&2
    exit 2
fi

echo "== machine: $(uname -m), $(nproc) cores; GPUs:"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "   (no nvidia-smi)"
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
    if [ -e target/vulkan/libvulkan.so.1 ]; then
        echo "== no system Vulkan loader: using target/vulkan/libvulkan.so.1"
        export LD_LIBRARY_PATH="$PWD/target/vulkan${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    else
        echo "== no Vulkan loader (libvulkan.so.1) on this machine and none in target/vulkan/"
    fi
fi
icds=$(ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null | grep -i '\.json$' | tr '\n' ' ' || true)
echo "== Vulkan ICD manifests: ${icds:-none}"
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan}
# NVIDIA's GLX-based ICD fails to create an instance on headless machines (no X,
# no /dev/nvidia-modeset: "Could not get 'vkCreateInstance' via
# 'vk_icdGetInstanceProcAddr' for ICD libGLX_nvidia.so.0"); its EGL library is a
# Vulkan driver too. Where the default does not give an adapter, try it.
if ! probe=$("$bin" --probe 2>/dev/null); then
    echo "== default Vulkan drivers: ${probe#cannot run: }"
    for lib in libEGL_nvidia.so.0 libGLX_nvidia.so.0; do
        path=$(ldconfig -p 2>/dev/null | sed -n "s/.*$lib.*=> //p" | head -1)
        [ -n "$path" ] || path=$(find /usr/lib /usr/lib64 /usr/local/nvidia -maxdepth 3 -name "$lib" 2>/dev/null | head -1 || true)
        [ -n "$path" ] || continue
        mkdir -p target/vulkan
        manifest="$PWD/target/vulkan/nvidia_${lib%%.*}.json"
        printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$path" >"$manifest"
        if VK_ICD_FILENAMES="$manifest" VK_DRIVER_FILES="$manifest" "$bin" --probe >/dev/null 2>&1; then
            export VK_ICD_FILENAMES="$manifest" VK_DRIVER_FILES="$manifest"
            echo "== using the Vulkan driver in $path (manifest $manifest)"
            break
        fi
    done
fi
exec "$bin" "$@"
