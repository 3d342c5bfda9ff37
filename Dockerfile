# CPU training image for SeeTrain's config-driven trainer.
#
#   docker build -t seetrain-train .
#   docker run --rm -v "$PWD/runs:/runs" seetrain-train                          # small_cnn on digits (offline)
#   docker run --rm -v "$PWD/runs:/runs" -v "$HOME/.cache/seetrain:/data" \
#       seetrain-train model=resnet18 data=cifar10 trainer.max_epochs=3           # downloads CIFAR-10 once into /data
#   docker run --rm -v "$PWD/runs:/runs" seetrain-train --from-run <RUN-ID>      # train again from a recorded run
#
# Runs land in /runs (SEETRAIN_LOGDIR), datasets are cached in /data (SEETRAIN_DATA_DIR); mount both.
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SEETRAIN_LOGDIR=/runs \
    SEETRAIN_DATA_DIR=/data

# git: run.json records the commit of a mounted project; nothing else is needed at run time
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*

# torch first, from the CPU wheel index, so the trainer extra does not pull the CUDA build
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"

WORKDIR /opt/seetrain
COPY pyproject.toml README.md ./
COPY seetrain ./seetrain
RUN pip install ".[train]" && python -c "import seetrain.train.backends.lightning"

RUN useradd --create-home trainer && mkdir -p /runs /data && chown trainer /runs /data
USER trainer
WORKDIR /home/trainer
VOLUME ["/runs", "/data"]

ENTRYPOINT ["seetrain", "train"]
CMD []
