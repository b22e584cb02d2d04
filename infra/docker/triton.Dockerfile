# syntax=docker/dockerfile:1
# NVIDIA Triton for the sentiment model repository (GPU configs by default).
# Build from the repository root:
#   docker build -f infra/docker/triton.Dockerfile -t sentiment-triton .
# NGC 25.07 is the release with the fixes of NVIDIA's August 2025 Triton security bulletin
# (Python backend, HTTP server); nothing older may be deployed (tests/infra checks the tag).
# It is newer than the Triton 2.51 the tests run from the nvidia-pytriton wheel: the KServe
# v2 protocol, the restricted-API flags and the model configs are the same. Its native
# onnxruntime and pytorch backends replace the project's CPU Python-based ones, so the
# repository is served unchanged.
# Run with a sized /dev/shm (the Python tokenizer model exchanges tensors through it) and
# the admin key of the model-repository API (triton-entrypoint.sh):
#   docker run --gpus all --shm-size=1g -e TRITON_MODEL_REPOSITORY=s3://bucket/models \
#     -e TRITON_ADMIN_KEY=... sentiment-triton
FROM nvcr.io/nvidia/tritonserver:25.07-py3

# The Python models (tokenizer, post-processing) import numpy and tokenizers; they run in
# the stub's embedded interpreter, which uses this image's python3 site-packages.
# The image's Ubuntu 24.04 marks its python3 as externally managed (PEP 668); the stub
# reads this interpreter's packages, so they go there. The lock (scripts/lock_requirements.py,
# Python 3.12) names every package with its hashes: nothing else is installed.
COPY infra/docker/triton-requirements.txt /opt/sentiment/triton-requirements.txt
RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir --require-hashes --no-deps \
        -r /opt/sentiment/triton-requirements.txt \
    && python3 -c "import numpy, tokenizers; assert numpy.__version__.startswith('1.')"
COPY --chmod=0755 infra/docker/triton-entrypoint.sh /usr/local/bin/sentiment-triton

ENV TRITON_MODEL_REPOSITORY=/models \
    TRITON_EXIT_TIMEOUT_SECS=30
# triton-server (uid 1000) is the unprivileged user the NGC image provides.
USER 1000:1000
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sentiment-triton"]
