"""Data files: the prebuilt JupyterLab extension (built by `make labextension` into
aglais_lab/labextension/) under share/jupyter/labextensions/aglais-hub-lab/, and the
config that enables the server extension under etc/jupyter/."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
BUILT = HERE / "aglais_lab" / "labextension"
NAME = "aglais-hub-lab"

if not (BUILT / "package.json").exists():
    raise SystemExit(f"{BUILT} is missing: build the extension first (make labextension)")

data_files = {}
for path in sorted(p for p in BUILT.rglob("*") if p.is_file()):
    target = Path("share/jupyter/labextensions", NAME, path.parent.relative_to(BUILT))
    data_files.setdefault(str(target), []).append(str(path.relative_to(HERE)))
data_files[f"share/jupyter/labextensions/{NAME}"].append("install.json")
data_files["etc/jupyter/jupyter_server_config.d"] = ["jupyter-config/jupyter_server_config.d/aglais_lab.json"]

setup(data_files=sorted(data_files.items()))
