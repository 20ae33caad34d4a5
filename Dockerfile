# vcam in a container:
#   docker build -t vcam .
#   docker run -d --name vcam -p 8080:8080 -v ./video:/app/video -e TZ=Europe/Berlin -e RTSP_URL=rtsp://user:pass@camera/stream vcam
#   docker logs vcam | grep web_first_user      # the web UI's first password, at http://HOST:8080/
#   docker exec vcam vcam events
# The base image is a build argument so it can be swapped (e.g. for a local or arm64 image).
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIDEO_DIR=video \
    LOG_FORMAT=console \
    VCAM_PYTHON=python \
    PATH=/app/bin:$PATH

WORKDIR /app

# The wheels carry FFmpeg (PyAV) and OpenCV: no system libraries needed beyond the base image.
# pip reads these from the environment: for an offline build from a local wheelhouse pass
# --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels (mounted with -v at build time).
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY vcam ./vcam
COPY bin ./bin
COPY vcam_runner.py .env_example ./

RUN useradd --uid 10001 --user-group --home-dir /app --no-create-home vcam \
    && mkdir -p /app/video \
    && chown 10001:10001 /app/video
USER 10001:10001

VOLUME /app/video
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["python", "-m", "vcam", "health"]

ENTRYPOINT ["python", "vcam_runner.py"]
