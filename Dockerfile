FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
# the locked versions first (deploy/lock.py: what the tests ran with), then the hub itself on top of them
RUN pip install --no-cache-dir -r requirements.lock
COPY broker broker
COPY adapters adapters
COPY schemas schemas
COPY config config
RUN pip install --no-cache-dir --no-deps ".[soap]" && pip check && useradd --system hub
USER hub
ENV HUB_CONFIG_DIR=/app/config
EXPOSE 8700
CMD ["tawasul-hub", "api", "--host", "0.0.0.0"]
