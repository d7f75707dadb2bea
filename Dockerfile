# CPU worker image. Models are built at image build time so containers start in seconds.
FROM python:3.11-slim AS build
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline pipeline
COPY agents agents
COPY schemas schemas
# The build stage is thrown away: torch's size does not reach the runtime image.
RUN pip install --no-cache-dir ".[build]" \
 && streamguard models build --model-dir /app/models

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline pipeline
COPY agents agents
COPY schemas schemas
# Serving needs onnxruntime + tokenizers only: no torch in the runtime image.
RUN pip install --no-cache-dir . && useradd --create-home streamguard
COPY --from=build /app/models /app/models
ENV STREAMGUARD_MODEL_DIR=/app/models
USER streamguard
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6066/healthz', timeout=3)"]
CMD ["streamguard", "worker"]
