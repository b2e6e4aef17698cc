# One image for web, workers, beat and Flower; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TASKHUB_VAR_DIR=/var/lib/taskhub

RUN useradd --create-home --uid 1000 taskhub \
    && mkdir -p /var/lib/taskhub \
    && chown taskhub /var/lib/taskhub

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY --chown=taskhub . .
# taskhub installed as any host installs it; its dependencies are pinned above.
RUN pip install --no-deps .
# With DEBUG off, as the image runs: the manifest of hashed names is written.
RUN DEBUG=0 SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput

USER taskhub
EXPOSE 8000
CMD ["gunicorn", "project.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
