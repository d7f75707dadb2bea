# CPU worker image: the shipped, tested models from the checkout (models/), served by onnxruntime.
# Nothing is trained here, so the image has no torch and builds in about a minute.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline pipeline
COPY agents agents
COPY schemas schemas
# The serving dependencies and the CPU runtime; `pip check` fails the build on a broken set.
RUN pip install ".[cpu]" \
 && pip check \
 && useradd --create-home streamguard
COPY models models
ENV STREAMGUARD_MODEL_DIR=/app/models
USER streamguard
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6066/healthz', timeout=3)"]
CMD ["streamguard", "worker"]
