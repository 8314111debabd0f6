"""Every ```python block of docs/python.md runs as written (in order, sharing one
namespace), against a fresh directory and the test server."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "python.md"


def test_docs_examples_run(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 6
    scope = {}
    for block in blocks:
        code = block.replace("http://127.0.0.1:8080", server).replace('"change-me"', '"py-test-key"')
        exec(compile(code, str(DOC), "exec"), scope)  # noqa: S102 - running our own docs
