"""`make run`'s dashboard files (chalicelib/local/dashboard.py): what a path answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.local import dashboard

REQUEST_ID = "req-test"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><div id=root></div>")
    (root / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not served")
    return root


def test_only_reads_under_the_prefix_are_the_dashboards() -> None:
    assert dashboard.handles("GET", "/dashboard/queue?x=1")
    assert dashboard.handles("HEAD", "/dashboard")
    assert not dashboard.handles("POST", "/dashboard/")
    assert not dashboard.handles("GET", "/dashboards")
    assert not dashboard.handles("GET", "/delegations")


def test_the_apps_routes_get_index_html_and_files_get_themselves(dist: Path) -> None:
    for path in ("/dashboard/", "/dashboard/delegations", "/dashboard/delegations/dlg_1?status=ACTIVE"):
        page = dashboard.answer(path, REQUEST_ID, dist)
        assert (page.status, page.body) == (200, b"<!doctype html><div id=root></div>")
        assert page.headers["Cache-Control"] == "no-cache"
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    script = dashboard.answer("/dashboard/assets/index-abc123.js", REQUEST_ID, dist)
    assert script.body == b"console.log(1)" and script.headers["Content-Type"].startswith("text/javascript")
    assert "immutable" in script.headers["Cache-Control"]


def test_the_bare_prefix_moves_to_the_slash(dist: Path) -> None:
    moved = dashboard.answer("/dashboard?x=1", REQUEST_ID, dist)
    assert (moved.status, moved.headers["Location"]) == (308, "/dashboard/?x=1")


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/assets/missing.js",
        "/dashboard/favicon.ico",
        "/dashboard/../secret.txt",
        "/dashboard/%2e%2e/secret.txt",
        "/dashboard/assets/%2e%2e/%2e%2e/secret.txt",
        "/dashboard/..%5csecret.txt",
    ],
)
def test_a_missing_file_or_a_way_out_is_not_found(dist: Path, path: str) -> None:
    reply = dashboard.answer(path, REQUEST_ID, dist)
    assert reply.error is not None and reply.error.status_code == 404 and reply.body is None


def test_an_unbuilt_dashboard_says_how_to_build_it(tmp_path: Path) -> None:
    reply = dashboard.answer("/dashboard/", REQUEST_ID, tmp_path / "nothing")
    assert reply.error is not None and reply.error.status_code == 503
    assert "make dashboard" in reply.error.description
