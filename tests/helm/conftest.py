"""The chart (helm/aglais-hub) rendered offline with helm-python-sdk: ours alone, and with the
z2jh 4.4.0 chart copied into a temporary charts/jupyterhub/ (what `helm dependency update`
would fetch; nothing here can download it). Each values file is rendered once per module."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import helm_python as helm
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "aglais-hub"
EXAMPLES = REPO / "helm" / "examples"
RELEASE, NAMESPACE = "aglais", "hub"

# values files: the chart's defaults, and the production-like example
VALUES = {"default": None, "production": EXAMPLES / "production.yaml"}


def z2jh_chart() -> Path:
    """The z2jh 4.4.0 chart (test data, see its README): $AGLAIS_Z2JH_CHART, else beside the
    checkout (../shared/z2jh/jupyterhub), else the machine's copy. CI runs from a fresh clone
    elsewhere, hence the last. Missing, the chart's tests fail: they are the only check of it."""
    candidates = [os.environ.get("AGLAIS_Z2JH_CHART"), REPO.parent / "shared" / "z2jh" / "jupyterhub",
                  "/work/shared/z2jh/jupyterhub"]
    for candidate in filter(None, candidates):
        if (Path(candidate) / "Chart.yaml").is_file():
            return Path(candidate)
    pytest.fail(f"the z2jh 4.4.0 chart is in none of {[str(c) for c in candidates if c]}: set $AGLAIS_Z2JH_CHART")


@pytest.fixture(scope="session")
def charts(tmp_path_factory) -> dict[str, Path]:
    """Two temporary copies of our chart: "ours" without the subchart, "with_z2jh" with it."""
    root = tmp_path_factory.mktemp("charts")
    ours = root / "ours" / "aglais-hub"
    shutil.copytree(CHART, ours, ignore=shutil.ignore_patterns("charts"))
    full = root / "with_z2jh" / "aglais-hub"
    shutil.copytree(ours, full)
    shutil.copytree(z2jh_chart(), full / "charts" / "jupyterhub")
    return {"ours": ours, "with_z2jh": full}


def values_of(name: str) -> dict:
    path = VALUES[name]
    return {} if path is None else yaml.safe_load(path.read_text())


def render(chart_dir: Path, values: dict, **options) -> dict[str, str]:
    with helm.Chart.load(chart_dir) as chart:
        return chart.render(values, name=options.pop("name", RELEASE), namespace=NAMESPACE, is_install=True,
                            **options)


def objects(manifests: dict[str, str]) -> list[dict]:
    """Every object the templates rendered (NOTES.txt is text, not an object)."""
    found = []
    for template, text in sorted(manifests.items()):
        if template.endswith(".txt"):
            continue
        found += [doc for doc in yaml.safe_load_all(text) if doc]
    return found


def find(rendered: list[dict], kind: str, name: str) -> dict:
    matches = [o for o in rendered if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} rendered"
    return matches[0]


@pytest.fixture(scope="module", params=sorted(VALUES))
def rendered(request, charts) -> dict:
    """For one values file: the objects rendered with and without the subchart."""
    values = values_of(request.param)
    return {"name": request.param, "values": values,
            "ours": objects(render(charts["ours"], values)),
            "with_z2jh": objects(render(charts["with_z2jh"], values))}
