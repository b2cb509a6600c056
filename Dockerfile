# The CPU image of retriever: the tool, the m3e-small model exported to ONNX, no torch.
#
#   docker build -t retriever-zh .
#   docker run --rm -v "$PWD/docs:/docs:ro" -v retriever-index:/data retriever-zh index /docs
#   docker run -d -p 8000:8000 -v retriever-index:/data retriever-zh
#
# Documents are read from wherever they are mounted (/docs above, read-only); the index
# lives in /data (a volume, so that it outlives the container). The model and the caches
# are in the image, under /opt/retriever.

FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml LICENSE ./
COPY docs/pypi.md ./docs/
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
# The model, the caches and the configuration in the image; the index in the volume.
ENV RETRIEVER_HOME=/opt/retriever \
    RETRIEVER_INDEX=/data/index \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY constraints.txt /tmp/constraints.txt
COPY --from=wheel /wheels /tmp/wheels
# The versions the tests passed with (constraints.txt); then the model, its licence
# accepted for the image's user (research and non-commercial use only: see the README),
# exported once, and the question cutter's dictionary made once.
RUN pip install --constraint /tmp/constraints.txt /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels /tmp/constraints.txt \
    && retriever model install --yes \
    && python -m retriever.text.lexicon \
    && useradd --system --uid 10001 --home-dir /data retriever \
    && mkdir -p /data \
    && chown -R 10001 /data /opt/retriever
USER 10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["retriever"]
# Any Host: behind Docker's port mapping the service is reached under names it cannot know.
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--allow-host", "*"]
