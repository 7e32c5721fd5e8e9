"""Reading one doc: dispatch on the file name to the TF Hub markdown or the Kaggle metadata reader."""

from __future__ import annotations

from pathlib import Path

from hubcheck.documentation.facts import DocFacts, DocumentationError
from hubcheck.documentation.kaggle import read_kaggle
from hubcheck.documentation.markdown import read_markdown

MAX_BYTES = 4 * 1024 * 1024


def read_documentation(path: Path) -> DocFacts:
    """The facts ``path`` states: ``.md`` is TF Hub model markdown, ``.json`` Kaggle
    ``model-instance-metadata.json``. Raises :class:`DocumentationError` when the file is missing,
    unreadable, too large, not UTF-8, of another kind, or (JSON) not Kaggle metadata."""
    suffix = path.suffix.lower()
    if suffix not in (".md", ".markdown", ".json"):
        raise DocumentationError(f"{path}: not a doc: give a .md (TF Hub model markdown) or a .json "
                                 "(Kaggle model-instance-metadata.json)")
    try:
        if not path.is_file():
            raise DocumentationError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
        if path.stat().st_size > MAX_BYTES:
            raise DocumentationError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MiB; not a doc")
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DocumentationError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise DocumentationError(f"{path}: cannot read: {exc.strerror or exc}") from None
    name = str(path)
    return read_kaggle(text, name) if suffix == ".json" else read_markdown(text, name)
