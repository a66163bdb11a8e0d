#!/usr/bin/env python3
"""A stand-in for ansible-test's httptester container, on the controller.

ansible-core's get_url, uri and unarchive targets talk to fixed names:
ansible.http.tests (httpbin over http and https, client certificates),
sni1.ansible.http.tests (a second certificate picked by SNI),
fail.ansible.http.tests (a certificate for another name),
self-signed.ansible.http.tests:444 (a certificate no CA signed) and
ci-files.testing.ansible.com (files the targets download). This serves all
of them from one process on one address; the test host's /etc/hosts points
the names there and trusts the CA made here (conformance/run.sh does both).

    httptester.py --listen ADDR --state DIR

DIR keeps the certificates between runs. Prints `ready` when listening.
Runs httpbin (PyPI) as the httpbin the targets expect.
"""
import argparse
import io
import os
import ssl
import subprocess
import sys
import tarfile
import threading

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

HTTPBIN = "ansible.http.tests"
SNI = "sni1.ansible.http.tests"
FAIL = "fail.ansible.http.tests"
SELF_SIGNED = "self-signed.ansible.http.tests"
CI_FILES = "ci-files.testing.ansible.com"
NAMES = [HTTPBIN, SNI, FAIL, SELF_SIGNED, CI_FILES]


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(d):
    """A CA, a certificate per served name signed by it, a client
    certificate, and a self-signed certificate (ca2cert.pem)."""
    os.makedirs(d, exist_ok=True)
    if os.path.exists(os.path.join(d, "done")):
        return
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            "-subj", "/CN=berth conformance test CA", "-keyout", "cakey.pem",
            "-out", "cacert.pem", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name in [HTTPBIN, SNI, CI_FILES, "client"]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        ext = f"{name}.ext"
        with open(os.path.join(d, ext), "w") as f:
            if name == "client":
                f.write("extendedKeyUsage=clientAuth\n")
            else:
                f.write(f"subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "cacert.pem",
                "-CAkey", "cakey.pem", "-CAcreateserial", "-days", "3650",
                "-extfile", ext, "-out", f"{name}.pem", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            "-subj", f"/CN={SELF_SIGNED}", "-keyout", "ca2key.pem", "-out", "ca2cert.pem",
            "-addext", f"subjectAltName=DNS:{SELF_SIGNED}", cwd=d)
    open(os.path.join(d, "done"), "w").close()


def server_context(d, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, cert), os.path.join(d, key))
    # Client certificates are asked for, not required (nginx's
    # ssl_verify_client optional): /ssl_client_verify reports them.
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(os.path.join(d, "cacert.pem"))
    return ctx


def source_tarball():
    """What the unarchive target downloads from ci-files: a gzipped tar of a
    small source tree."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, text in [("echo-hello-1.0/echo-hello", "#!/bin/sh\necho hello\n"),
                           ("echo-hello-1.0/Makefile", "install:\n\tinstall -m 755 echo-hello $(DESTDIR)/usr/bin/\n")]:
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o755
            info.mtime = 1500000000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def app_for(d, scheme):
    from httpbin import app as httpbin  # noqa: imported late: it logs at import
    files = {f"/{n}": os.path.join(d, f) for n, f in [
        ("cacert.pem", "cacert.pem"), ("ca2cert.pem", "ca2cert.pem"),
        ("client.pem", "client.pem"), ("client.key", "client.key")]}
    downloads = {"/test/integration/targets/apt/echo-hello-source.tar.gz": source_tarball()}

    def app(environ, start_response):
        req = Request(environ)
        host = (req.host or "").rsplit(":", 1)[0] if not (req.host or "").startswith("[") else req.host
        path = req.path
        if scheme == "http" and host == FAIL:
            resp = Response(status=301, headers={"Location": f"https://{FAIL}/"})
        elif scheme == "http" and path in files:
            with open(files[path], "rb") as f:
                resp = Response(f.read(), mimetype="application/x-pem-file")
        elif scheme == "https" and path == "/ssl_client_verify":
            verified = "SUCCESS" if environ.get("SSL_CLIENT_CERT") else "NONE"
            resp = Response(f"{HTTPBIN}:{verified}", mimetype="text/plain")
        elif host == SNI:
            resp = Response(f"<html><body>{SNI}</body></html>\n", mimetype="text/html")
        elif host == SELF_SIGNED:
            resp = Response(f"<html><body>{SELF_SIGNED}</body></html>\n", mimetype="text/html")
        elif host == CI_FILES:
            body = downloads.get(path)
            resp = Response(body, mimetype="application/gzip") if body is not None else Response("not found\n", status=404)
        else:
            return httpbin(environ, start_response)
        return resp(environ, start_response)
    return app


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--state", required=True)
    a = p.parse_args()
    make_certs(a.state)
    main_ctx = server_context(a.state, f"{HTTPBIN}.pem", f"{HTTPBIN}.key")
    by_name = {SNI: server_context(a.state, f"{SNI}.pem", f"{SNI}.key"),
               CI_FILES: server_context(a.state, f"{CI_FILES}.pem", f"{CI_FILES}.key")}

    # Names without their own certificate (fail.ansible.http.tests) get
    # ansible.http.tests's: a certificate for another name.
    def pick(sock, name, _ctx):
        if name in by_name:
            sock.context = by_name[name]
    main_ctx.sni_callback = pick
    self_ctx = server_context(a.state, "ca2cert.pem", "ca2key.pem")
    servers = [make_server(a.listen, 80, app_for(a.state, "http"), threaded=True),
               make_server(a.listen, 443, app_for(a.state, "https"), threaded=True, ssl_context=main_ctx),
               make_server(a.listen, 444, app_for(a.state, "https"), threaded=True, ssl_context=self_ctx)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("ready", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
