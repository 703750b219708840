# bbplan: batch runs (and, with the API, the planner map) in a container.
# Pinned slim base; dependencies from the same lock file as development and CI.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NUMBA_CACHE_DIR=/tmp/numba-cache

WORKDIR /app
COPY requirements.lock pyproject.toml README.md LICENSE ./
COPY coverage ./coverage
COPY api ./api
COPY gis_data ./gis_data
RUN pip install --constraint requirements.lock ".[dask]" \
    && useradd --create-home --uid 10001 bbplan \
    && mkdir -p /data/runs && chown bbplan /data/runs

USER bbplan
VOLUME ["/data/runs"]
# The shipped data lives in /app/gis_data; mount your own inputs and pass them as options.
WORKDIR /app
ENTRYPOINT ["bbplan"]
EXPOSE 8000
# Serves the API and map; runs on the default data first when /data/runs holds no run.
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--runs-dir", "/data/runs"]
