"""tinyia3/paths.py: one definition of where the shipped files are, and shipped datasets by name."""

import pytest

from tinyia3 import paths
from tinyia3.errors import MissingFileError


def test_a_checkout_reads_the_repository_folders():
    # The tests run from a checkout (pip install -e .): no bundle, the repository's data/ and lessons/.
    assert not paths.BUNDLE.exists() and not paths.INSTALLED
    assert paths.ROOT == paths.PACKAGE.parent
    assert (paths.EMBEDDED_DIR / "model.safetensors").is_file()
    assert (paths.GPT2_TOKENIZER_DIR / "vocab.json").is_file()
    assert (paths.EXERCISES_DIR / "gelu_backward.py").is_file()
    assert sorted(paths.LESSONS_DIR.glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("name", ["support_desk_train", "support_desk_train.jsonl",
                                  "data/datasets/support_desk_train.jsonl"])
def test_a_shipped_dataset_is_found_by_name_from_any_folder(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert paths.dataset_path(name) == paths.DATASETS_DIR / "support_desk_train.jsonl"


def test_an_existing_file_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "support_desk_train.jsonl").write_text('{"text": "mine"}\n')
    assert paths.dataset_path("support_desk_train.jsonl").resolve() == tmp_path / "support_desk_train.jsonl"


def test_an_unknown_dataset_names_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingFileError, match="'no_such_set' does not exist.*support_desk_train.*spelling"):
        paths.dataset_path("no_such_set")
    assert "support_desk_train" in paths.shipped_datasets()
