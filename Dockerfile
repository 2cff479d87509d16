# Not exercised by the test suite (no Docker engine where it is developed); see README.
# Build stage: compile the Cython modules (hot path, librdkafka producer) into a wheel.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev librdkafka-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY collector ./collector
COPY native ./native
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: the wheels, librdkafka and jemalloc only, no compiler, not root.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends librdkafka1 libjemalloc2 \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --no-create-home collector
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER collector
ENV COLLECTOR_HOST=0.0.0.0 COLLECTOR_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["collector"]
CMD ["serve"]
