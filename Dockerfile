# One image for the Converge API and converge-monitor (docker-compose.yml picks the command).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY monitor ./monitor
COPY probes ./probes
COPY alerts ./alerts
COPY slo ./slo
COPY dashboards ./dashboards
COPY devstack ./devstack
COPY monitor.yml ./
RUN pip install --no-cache-dir . && useradd --system --uid 10001 converge && mkdir -p /app/var \
    && chown converge /app/var
USER converge
EXPOSE 8000 9464
CMD ["python", "-m", "app", "serve", "--host", "0.0.0.0", "--port", "8000"]
