FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY broker broker
COPY adapters adapters
COPY schemas schemas
COPY config config
RUN pip install --no-cache-dir ".[soap]" && useradd --system hub
USER hub
ENV HUB_CONFIG_DIR=/app/config
EXPOSE 8700
CMD ["tawasul-hub", "api", "--host", "0.0.0.0"]
