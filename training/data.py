"""SST-2 loading with `datasets`, from local TSV files or the Hugging Face hub."""

from __future__ import annotations

import csv
from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset


def load_sst2(source: str) -> DatasetDict:
    """Return `train` and `dev` splits with columns `sentence` (str) and `label` (int).

    `source` is a folder holding GLUE's `train.tsv`/`dev.tsv` (read where they lie, never
    copied), or a hub dataset id such as `glue/sst2` for users with internet access.
    """
    folder = Path(source)
    if folder.is_dir():
        files = {"train": str(folder / "train.tsv"), "dev": str(folder / "dev.tsv")}
        for path in files.values():
            if not Path(path).is_file():
                raise FileNotFoundError(f"SST-2 file missing: {path}")
        raw = load_dataset(
            "csv", data_files=files, delimiter="\t", quoting=csv.QUOTE_NONE, keep_default_na=False
        )
        return DatasetDict(
            {split: raw[split].select_columns(["sentence", "label"]) for split in ("train", "dev")}
        )
    path, _, name = source.partition("/")
    hub = load_dataset(path, name or None)
    return DatasetDict({"train": hub["train"], "dev": hub["validation"]}).select_columns(
        ["sentence", "label"]
    )


def take(split: Dataset, limit: int | None, seed: int) -> Dataset:
    """A seeded random subset of at most `limit` rows (all rows when `limit` is None)."""
    if limit is None or limit >= len(split):
        return split
    return split.shuffle(seed=seed).select(range(limit))
