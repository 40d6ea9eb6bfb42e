# JupyterLab with everything the course needs, as a non-root user.
#   docker build -t dllabs .
#   docker run --rm -p 127.0.0.1:8888:8888 dllabs   # then open the URL with the token it prints
# (127.0.0.1: Jupyter is reachable from this computer only, not from the whole network; inside
# the container it listens on all interfaces, which publishing needs.)
# Data sets are downloaded on first use into /home/student/course/data; mount a volume there
# (-v dllabs-data:/home/student/course/data) to keep them between runs.
# Note: no Docker engine runs on the machines this course is developed on, so this image is not
# built by CI; it installs exactly requirements.txt, like `make setup`.
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends git make \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 student

WORKDIR /home/student/course
COPY requirements.txt pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.txt

COPY --chown=student:student . .
RUN pip install --no-cache-dir --no-deps -e .

USER student
ENV DLLABS_PROFILE=fast
EXPOSE 8888
# Token authentication stays on: Jupyter prints the login URL with its token at start.
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser"]
