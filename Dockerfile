# harness on a CUDA box: the project and its Hydra launchers on PyTorch's CUDA runtime image.
#   docker build -t harness .
#   docker run --gpus all -v "$PWD/results:/work/results" -v "$HOME/.cache/harness:/cache" \
#       harness -m sweep=chinchilla_isoflop_gpu
#   docker run --gpus all -v "$PWD/results:/work/results" --entrypoint bash \
#       harness scripts/gpu_check.sh --out results/gpu_check
# Results land in the mounted results/ folder; tokenised corpora are cached in /cache.
# Versions in the image: PyTorch 2.5.1, CUDA 12.4, cuDNN 9 (the base image below).
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    HARNESS_CACHE=/cache \
    HF_HOME=/cache/huggingface

WORKDIR /opt/harness
COPY pyproject.toml README.md ./
COPY harness ./harness
COPY conf ./conf
# The GPU acceptance check and the benchmarks it runs (scripts/gpu_check.sh; see the README).
COPY scripts ./scripts
# A regular install: the Hydra configs in conf/ go into the package (harness.conf), so the image
# runs from site-packages and the copied sources are only build input. The base image's torch
# already satisfies the project's torch>=2.3, so pip keeps it.
# scripts/ is linked into the working folder so the check runs as `scripts/gpu_check.sh` there.
RUN pip install . && mkdir -p /work/results /cache && ln -s /opt/harness/scripts /work/scripts

WORKDIR /work
ENTRYPOINT ["harness-train"]
CMD ["--help"]
