"""The README's two commands are the ones CI and users run: keep them in step."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text):
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    test_cmd = next(b.strip() for b in _bash_blocks(readme) if "pytest" in b)
    assert test_cmd in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_install_command_starts_the_app():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = _bash_blocks(readme)[0].strip()
    assert install.startswith("python -m pip install .") and install.endswith("restora")


def test_readme_screenshot_exists():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for ref in re.findall(r"\]\((resources/screenshots/[^)]+)\)", readme):
        assert (ROOT / ref).is_file(), ref
