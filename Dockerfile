# kmodlab in a container: JupyterLab on the course, as `docker run -p 8888:8888`
# or as a JupyterHub single-user image. Set-up is the README's set-up command
# (`./kmodlab setup`, here `--shared` so that any user may run the lab), run at
# build time, so starting the container needs no network. It runs as an ordinary user
# (jovyan, uid 1000). Built and run here with Debian's podman (tools/build-images, then
# `./kmodlab test -m container`):
#
#   podman build -t kmodlab .
#   podman run --rm -p 8888:8888 --security-opt unmask=/proc/* kmodlab
#
# The one privilege beyond a default container: the build sandbox (bubblewrap)
# mounts a fresh /proc, which the kernel refuses while the container's /proc has
# masked paths. Docker's equivalent is --security-opt systempaths=unconfined (not
# measured here). No --privileged, no added capability, no /dev/kvm (the guest
# runs under TCG; add --device /dev/kvm where KVM works). Details:
# docs/instructors.md, "Containers".
ARG BASE=debian:12
FROM ${BASE}

# The kernel cache is shared and read-only for users (docs/instructors.md, "Shared
# machines"): a hub's non-root user keeps their own state in ~/.cache/kmodlab.
ENV DEBIAN_FRONTEND=noninteractive \
    KMODLAB_SHARED_CACHE=/opt/kmodlab-cache \
    PATH=/opt/kmodlab/.venv/bin:$PATH
RUN apt-get update -q \
    && apt-get install -y -q --no-install-recommends python3 python3-venv ca-certificates

COPY . /opt/kmodlab
WORKDIR /opt/kmodlab
# The README's set-up: the Python environment, the host packages, the guest
# kernel and a saved booted guest, all in the image.
ARG JUPYTERHUB_VERSION=5.*
# Behind a TLS-intercepting proxy, pip needs its CA: mount the host's bundle into the
# build and name it (tools/build-images does): -v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro
# --build-arg PIP_CERT=/run/host-ca.crt. Unset (the default), pip uses the image's CAs.
ARG PIP_CERT
RUN ./kmodlab setup --shared \
    && .venv/bin/python -m pip install -q --disable-pip-version-check "jupyterhub==${JUPYTERHUB_VERSION}" \
    && rm -rf /var/lib/apt/lists/* /root/.cache/pip

# The lab runs as an ordinary user, as JupyterHub's images do (jovyan, uid 1000, group
# users): the kernel cache is read-only to it, its own state goes to ~/.cache/kmodlab,
# and its copy of the course (notebooks and exercises) is in its home, writable.
RUN useradd -m -u 1000 -g 100 -s /bin/bash jovyan \
    && su jovyan -c "kmodlab course init --student /home/jovyan/course"
USER 1000
WORKDIR /home/jovyan/course

EXPOSE 8888
# JupyterHub replaces this command with its own (jupyterhub-singleuser).
CMD ["kmodlab", "lab", "--skip-setup", "--notebooks", "/home/jovyan/course/notebooks", \
     "--ip", "0.0.0.0", "--port", "8888"]
