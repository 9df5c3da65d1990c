# panelgate: a slim image running `panelgate serve` as an unprivileged user.
#   docker build -t panelgate .
#   docker run -p 8080:8080 -v $PWD/config:/etc/panelgate:ro -v $PWD/policies:/etc/policies:ro -e MAIN_PANEL_KEY=... panelgate
# (config/gateway.yaml reads ../policies; a config mounted on /etc/panelgate hides the policies copied there below,
# so a config of its own beside them says `policies_dir: policies` and mounts only its file)
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
COPY policies /etc/panelgate/policies
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin panelgate \
    && mkdir -p /var/log/panelgate && chown panelgate /var/log/panelgate
USER panelgate
EXPOSE 8080 9090
# /healthz lives on the operator listener (admin_listen). This check runs inside the container, so 127.0.0.1 is
# enough for it; Prometheus, and probes from outside (Kubernetes), need admin_listen on 0.0.0.0.
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=2); sys.exit(0)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["panelgate"]
CMD ["serve", "-c", "/etc/panelgate/gateway.yaml"]
