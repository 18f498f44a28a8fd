#!/usr/bin/env bash
# One device call: does CubeCL CUDA training run, and how fast against PyTorch on the same GPU.
# On this machine: scripts/gpu/build.sh. Then, through the device tool, from the repository
# root with carry ["target/gpu"]:  scripts/gpu/run.sh
# Each stage has its own time limit, so one that hangs leaves the others their time: CubeCL's
# first training step compiles and autotunes every kernel (on wgpu/lavapipe, unet_32: 90 s cold,
# 1.2 s with its caches warm; BENCHMARKS.md). Its autotune cache is copied to $OUT/cubecl at the
# end; carried back as target/gpu/cubecl, the next call on the same kind of GPU starts warm.
# Logs go to $OUT (or out-gpu/); the summary is printed last.
set -u
cd "$(dirname "$0")/../.."
out="${OUT:-out-gpu}"
mkdir -p "$out"
bin="${PIX2PIX_GPU_BIN:-}"
if [ -z "$bin" ]; then
    bin="$(mktemp -d)/pix2pix"
    gunzip -c target/gpu/pix2pix.gz > "$bin" && chmod +x "$bin"
fi
python="${PIX2PIX_PYTHON:-python3}"
device="${PIX2PIX_DEVICE:-cuda:0}"          # e.g. wgpu, to try the script elsewhere
torch_device="${PIX2PIX_TORCH_DEVICE:-cuda}"

# cubecl compiles kernels with NVRTC, loaded at run time: the toolkit's, or PyTorch's wheel.
nvrtc="$(find /usr/local/cuda*/ /usr/lib /opt -name 'libnvrtc.so*' 2>/dev/null | head -n 1)"
if [ -n "$nvrtc" ]; then
    export LD_LIBRARY_PATH="$(dirname "$nvrtc")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    echo "nvrtc: ${nvrtc:-not found}"
    "$python" -c 'import torch; print("torch", torch.__version__, torch.version.cuda)'
} 2>&1 | tee "$out/machine.txt"

cache="${XDG_CACHE_HOME:-$HOME/.cache}/cubecl"
if [ -d target/gpu/cubecl ]; then
    mkdir -p "$cache" && cp -r target/gpu/cubecl/. "$cache/"
fi

summary="$out/summary.txt"
: > "$summary"
stage() { # name, time limit in s, command...
    local name="$1" limit="$2"
    shift 2
    local start=$SECONDS
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    local status=$?
    printf '%-34s exit %3d after %4d s\n' "$name" "$status" $((SECONDS - start)) >> "$summary"
    tail -n 8 "$out/$name.log" >> "$summary"
}

# 1. The smallest training step, then a larger one, so that a hang shows at which size.
small=(--netG unet_32 --crop_size 32 --ngf 8 --ndf 8 --warmup 1 --repeats 3)
stage cubecl-unet32 60 "$bin" bench --device "$device" "${small[@]}"
stage cubecl-unet256-b1 120 "$bin" bench --device "$device" --warmup 2 --repeats 10
# 2. Side by side with PyTorch eager on the same GPU (compare.py prints the ratios).
for config in "--batch_size 16" "--batch_size 16 --precision bf16" "--batch_size 1 --precision bf16"; do
    name="compare-${config//[^a-z0-9]/}"
    # shellcheck disable=SC2086 # the configuration is a list of flags
    stage "$name" 120 "$python" scripts/bench/compare.py --rounds 1 --python "$python" \
        --binary "$bin" --device "$device" --torch-device "$torch_device" -- --netG unet_256 --crop_size 256 $config
done
[ -d "$cache" ] && cp -r "$cache" "$out/cubecl"
cat "$summary"
