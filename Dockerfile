# Production image: Papo without the embedded stores (compose/production set the PAPO_*_URL variables).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY papo ./papo
# The data dir exists and is papo's, so a named volume mounted there starts owned by papo too.
RUN pip install . && useradd --create-home papo && mkdir -p /home/papo/data && chown papo:papo /home/papo/data
USER papo
ENV PAPO_HOST=0.0.0.0 PAPO_PORT=8080 PAPO_DATA_DIR=/home/papo/data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)" || exit 1
CMD ["papo", "serve"]
