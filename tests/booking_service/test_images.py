"""The images' Dockerfiles (hub, single-user, Zeppelin), checked offline (nothing can pull or build an image here):
every base image pinned to a tag, the final user not root, and every Python requirement
they install compatible with setup.cfg's ranges for the same package."""

from __future__ import annotations

import configparser
import json
import re
import shlex
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
IMAGES = {name: REPO / "images" / name / "Dockerfile" for name in ("hub", "singleuser", "zeppelin")}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined, current = [], ""
    for line in path.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):  # a comment inside a continued instruction
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        joined.append(current.strip())
        current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text else "") for text in joined]


def stages(path: Path) -> list[dict]:
    """Each FROM: its image with ARGs (given before the first FROM) substituted, its alias."""
    args, found = {}, []
    for name, rest in instructions(path):
        if name == "ARG" and not found and "=" in rest:
            key, value = rest.split("=", 1)
            args[key.strip()] = value.strip().strip('"')
        elif name == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], words[0])
            alias = words[2] if len(words) > 2 and words[1].upper() == "AS" else None
            found.append({"image": image, "alias": alias})
    return found


def setup_ranges() -> dict[str, list[Requirement]]:
    """setup.cfg's requirements by package: install_requires and every extra."""
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines()
    for extra in cfg["options.extras_require"].values():
        lines += extra.splitlines()
    ranges: dict[str, list[Requirement]] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            ranges.setdefault(canonicalize_name(requirement.name), []).append(requirement)
    return ranges


def extras() -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return set(cfg["options.extras_require"])


def pip_requirements(path: Path) -> tuple[list[Requirement], list[str]]:
    """What `pip install` lines name: (requirements by name, local paths)."""
    named, local = [], []
    for name, rest in instructions(path):
        if name != "RUN":
            continue
        for command in rest.split("&&"):
            words = shlex.split(command)
            if "pip" not in words or "install" not in words:
                continue
            for word in words[words.index("install") + 1:]:
                if word.startswith("-"):
                    continue
                if word.startswith(("/", ".")) or word.endswith(".whl"):
                    local.append(word)
                else:
                    named.append(Requirement(word))
    return named, local


def compatible(a: Requirement, b: Requirement) -> bool:
    """Some version satisfies both: tried at every version either names (and just past)."""
    candidates = set()
    for spec in [*a.specifier, *b.specifier]:
        base = Version(spec.version.rstrip(".*"))
        candidates |= {base, Version(f"{base}.1"), Version(f"{base.major}.{base.minor + 1}")}
    return any(a.specifier.contains(v, prereleases=True) and b.specifier.contains(v, prereleases=True)
               for v in candidates)


@pytest.mark.parametrize("image", IMAGES)
def test_every_base_image_is_pinned_to_a_tag(image):
    found = stages(IMAGES[image])
    aliases = {s["alias"] for s in found if s["alias"]}
    assert found, f"{image}: no FROM"
    for stage in found:
        name = stage["image"]
        if name in aliases:
            continue
        repository, _, tag = name.rpartition(":")
        assert repository and "/" not in tag and tag not in ("", "latest"), f"{image}: {name} is not pinned to a tag"
    final = found[-1]["image"]
    expected = {"hub": "quay.io/jupyterhub/k8s-hub:4.4.0", "singleuser": "quay.io/jupyter/pyspark-notebook:",
                "zeppelin": "apache/zeppelin:0.12."}[image]
    assert final.startswith(expected), final


@pytest.mark.parametrize("image", IMAGES)
def test_the_image_ends_as_a_numeric_non_root_user(image):
    steps = instructions(IMAGES[image])
    last_from = max(i for i, (name, _) in enumerate(steps) if name == "FROM")
    users = [rest for name, rest in steps[last_from:] if name == "USER"]
    assert users, f"{image}: the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, f"{image}: ends as {users[-1]!r}; runAsNonRoot needs a numeric uid not 0"


@pytest.mark.parametrize("image", IMAGES)
def test_python_requirements_fit_setup_cfg(image):
    ranges = setup_ranges()
    named, local = pip_requirements(IMAGES[image])
    assert named, f"{image}: installs no named requirement"
    for requirement in named:
        for ours in ranges.get(canonicalize_name(requirement.name), []):
            assert compatible(requirement, ours), f"{image}: {requirement} cannot meet setup.cfg's {ours}"
    for path in local:  # the checkout, with extras setup.cfg has
        wanted = set(re.findall(r"\[([^\]]+)\]", path)[0].split(",")) if "[" in path else set()
        assert wanted <= extras(), f"{image}: {path} asks for extras setup.cfg lacks"


def test_the_hub_image_pins_what_the_chart_needs():
    named, local = pip_requirements(IMAGES["hub"])
    versions = {canonicalize_name(r.name): r.specifier for r in named}
    assert versions["jupyterhub"].contains("6.1.1") and not versions["jupyterhub"].contains("5.5.0")
    assert versions["jupyterhub-kubespawner"].contains("7.1.0") and not versions["jupyterhub-kubespawner"].contains("7.0.0")
    assert any(path.endswith("[kubernetes]") for path in local)


def test_the_zeppelin_image_runs_the_single_user_server_the_spawner_expects():
    """BookingKubeSpawner's Zeppelin defaults (command, port) are what the image runs."""
    from spawner.kube import BookingKubeSpawner

    steps = instructions(IMAGES["zeppelin"])
    cmd = [rest for name, rest in steps if name == "CMD"][-1]
    traits = BookingKubeSpawner.class_traits()
    assert json.loads(cmd) == traits["zeppelin_cmd"].default() == ["jupyterhub-singleuser"]
    assert [rest for name, rest in steps if name == "EXPOSE"] == [str(traits["zeppelin_port"].default())]
    assert traits["flavour_images"].default()["zeppelin"].startswith("aglais/zeppelin:")
    named, local = pip_requirements(IMAGES["zeppelin"])
    assert {canonicalize_name(r.name) for r in named} >= {"jupyterhub", "jupyter-server-proxy"}
    assert any(path.endswith(".whl") or "wheels" in path for path in local)  # aglais_lab, built in the image


def test_a_version_range_outside_setup_cfg_is_caught():
    """The check itself: a pin setup.cfg excludes is refused, one it includes is not."""
    ours = Requirement("jupyterhub>=6.1,<7")
    assert not compatible(Requirement("jupyterhub==5.5.*"), ours)
    assert compatible(Requirement("jupyterhub>=6.1,<6.2"), ours)


def test_dockerignore_keeps_local_state_out_of_the_build():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "node_modules", ".run"} <= ignored
