"""What aglais_lab.zeppelin hands jupyter-server-proxy for the Zeppelin process, read as
jupyter-server-proxy reads it (its templates, its call of functions by argument name),
and what its rewriting does to answers of every kind."""

from __future__ import annotations

import gzip
import types

import pytest
from jupyter_server_proxy.config import ServerProcess
from jupyter_server_proxy.utils import call_with_asked_args
from tornado.httputil import HTTPHeaders

from aglais_lab.zeppelin import AglaisZeppelin, inject_script, spark_master

TAG = b'<script src="/user/a/aglais/static/zeppelin.js"></script>'


def rendered(value, port=4321, base_url="/user/a%7Bb%7D/"):
    """A value as jupyter-server-proxy's NamedLocalProxyHandler realises it."""
    args = {"port": port, "base_url": base_url, "unix_socket": ""}
    if callable(value):
        value = call_with_asked_args(value, args)
    if isinstance(value, list):
        return [v.format(**args) for v in value]
    return {k.format(**args): v.format(**args) for k, v in value.items()}


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for key in ("ZEPPELIN_HOME", "ZEPPELIN_LOG_DIR", "ZEPPELIN_NOTEBOOK_DIR", "SPARK_CONF_DIR", "SPARK_MASTER"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home{x}"))
    return tmp_path


def test_zeppelin_is_told_port_address_and_base_path_and_keeps_its_state_at_home(clean_env, monkeypatch):
    home = clean_env / "home{x}"
    zeppelin = AglaisZeppelin(zeppelin_home=str(clean_env / "zep{pelin}"))
    process = ServerProcess(name="zeppelin", **zeppelin.server_process(lambda: "/user/a/"))
    env = rendered(process.environment)
    assert (env["ZEPPELIN_PORT"], env["ZEPPELIN_ADDR"]) == ("4321", "127.0.0.1")
    assert env["ZEPPELIN_SERVER_CONTEXT_PATH"] == "/user/a%7Bb%7D/zeppelin"
    # braces in paths survive jupyter-server-proxy's templates
    assert env["ZEPPELIN_HOME"] == str(clean_env / "zep{pelin}")
    assert env["ZEPPELIN_LOG_DIR"] == str(home / ".aglais" / "zeppelin" / "logs")
    assert env["ZEPPELIN_NOTEBOOK_DIR"] == str(home / "zeppelin")
    assert rendered(process.command) == [str(clean_env / "zep{pelin}" / "bin" / "zeppelin.sh")]
    assert (home / "zeppelin").is_dir() and (home / ".aglais" / "zeppelin" / "conf").is_dir()  # made at the start
    assert process.absolute_url is True and process.launcher_entry.title == "Apache Zeppelin"
    # what the server's environment sets wins, but not over port, address and path
    monkeypatch.setenv("ZEPPELIN_NOTEBOOK_DIR", "/data/notes")
    monkeypatch.setenv("ZEPPELIN_ADDR", "0.0.0.0")  # the apache/zeppelin image's
    env = rendered(process.environment)
    assert "ZEPPELIN_NOTEBOOK_DIR" not in env and env["ZEPPELIN_ADDR"] == "127.0.0.1"


def test_the_sessions_spark_master_reaches_zeppelins_spark_interpreter(clean_env, monkeypatch):
    conf = clean_env / "spark"
    conf.mkdir()
    (conf / "spark-defaults.conf").write_text(
        "spark.master local[2]\nspark.executor.instances 2\n# a comment\nspark.master   spark://127.0.0.1:7077  \n")
    assert spark_master(str(conf)) == "spark://127.0.0.1:7077"  # the last value wins, as in Spark
    monkeypatch.setenv("SPARK_CONF_DIR", str(conf))
    assert AglaisZeppelin().environment()["SPARK_MASTER"] == "spark://127.0.0.1:7077"
    (conf / "spark-defaults.conf").write_text("spark.executor.instances 2\n")
    assert "SPARK_MASTER" not in AglaisZeppelin().environment()
    assert spark_master(str(clean_env / "nowhere")) is None


def answer(body: bytes, content_type="text/html; charset=utf-8", code=200, **headers):
    all_headers = HTTPHeaders({"Content-Type": content_type, **{k.replace("_", "-"): v for k, v in headers.items()}})
    return types.SimpleNamespace(code=code, body=body, headers=all_headers)


@pytest.mark.parametrize("page, expected", [
    pytest.param(b"<html><head><title>Zeppelin</title></HEAD><body></body></html>",
                 b"<html><head><title>Zeppelin</title>" + TAG + b"</HEAD><body></body></html>", id="head"),
    pytest.param(b"<html><body>x</body ></html>", b"<html><body>x" + TAG + b"</body ></html>", id="no-head"),
    pytest.param(b"<p>x</p>", b"<p>x</p>" + TAG, id="fragment"),
])
def test_html_pages_get_the_script_once(page, expected):
    response = answer(page)
    inject_script(response, TAG)
    assert response.body == expected
    compressed = answer(gzip.compress(page), Content_Encoding="gzip")
    inject_script(compressed, TAG)
    assert gzip.decompress(compressed.body) == expected


@pytest.mark.parametrize("response", [
    pytest.param(answer(b'{"status": "OK"}', "application/json"), id="json"),
    pytest.param(answer(b"var a = '</head>';", "application/javascript"), id="script"),
    pytest.param(answer(b"<html></html>", code=404), id="html-error"),
    pytest.param(answer(b"", code=302, Location="/user/a/zeppelin/"), id="redirect"),
    pytest.param(answer(b"<html><head></head></html>", Content_Encoding="br"), id="unknown-compression"),
])
def test_other_answers_pass_untouched(response):
    before = response.body
    inject_script(response, TAG)
    assert response.body == before
