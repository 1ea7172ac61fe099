# syntax=docker/dockerfile:1
# One image for every lrsearch service in docker-compose.yml: the entrypoint is `lrsearch`, the
# command picks the service (`db upgrade`, `serve`, `worker`, `dashboard`, `submit`, `best`).
#
#   docker build -t lrsearch .
#   docker run --rm lrsearch schedules list
#
# Versions are those of constraints.txt (PIP_CONSTRAINT), as `make setup` installs them. torch is
# the CPU build, 2.13.0+cpu, which only PyTorch's CPU index serves; everything else comes from PyPI.
# tests/deploy/test_compose.py checks that the torch pin here matches constraints.txt.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CONSTRAINT=/src/constraints.txt
RUN python -m venv /opt/lrsearch
ENV PATH=/opt/lrsearch/bin:$PATH
WORKDIR /src

# torch in a layer of its own (the bulk of the image): it is rebuilt only when the pins change.
COPY constraints.txt ./
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu "torch==2.13.0+cpu"

# lrsearch itself with every extra (server, dashboard, postgres, tabular, ...), not editable:
# its Alembic migrations (migrations/) ship inside the package
# as lrsearch.migrations, so `lrsearch db upgrade` needs nothing from the source tree.
COPY pyproject.toml setup.py README.md ./
COPY lrsearch ./lrsearch
COPY migrations ./migrations
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu ".[all]" \
    && python -c "import torch; assert torch.__version__ == '2.13.0+cpu', torch.__version__" \
    && lrsearch --help > /dev/null


FROM python:3.11-slim

ENV PATH=/opt/lrsearch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --gid 10001 lrsearch \
    && useradd --uid 10001 --gid 10001 --create-home --no-log-init lrsearch
COPY --from=build /opt/lrsearch /opt/lrsearch

# A writable working directory for a non-root user, with the example specs:
#   docker compose run --rm worker submit examples/digits.toml
WORKDIR /app
COPY examples ./examples
RUN chown -R 10001:10001 /app
# Numeric, so that a cluster can check it is not root (Kubernetes runAsNonRoot).
USER 10001:10001

# 8000: `lrsearch serve`; 8080: `lrsearch dashboard`. The compose file sets a healthcheck on
# those two services only (a worker has no port to probe).
EXPOSE 8000 8080
# Exec form: lrsearch is PID 1 and gets the stop signal itself (a shell would swallow it).
ENTRYPOINT ["lrsearch"]
CMD ["--help"]
