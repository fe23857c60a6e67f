"""Reading what an earlier stage published: a version's rows, or the `embeddings` dataset's
vectors, streamed from its Parquet files by parquetio."""

import apache_beam as beam
import numpy as np
import pyarrow as pa


class ReadPublished(beam.PTransform):
    """The rows of a published version's data files (all splits, or the ones listed)."""

    def __init__(self, files: list[str], label: str) -> None:
        super().__init__(label=f"Read {label}")
        self._files = files

    def expand(self, pbegin):
        return (pbegin
                | "List files" >> beam.Create(self._files)
                | "Read rows" >> beam.io.ReadAllFromParquet())


def vectors_of(table: pa.Table):
    """(text_hash, float32 vector) pairs of an embeddings Arrow table, without going through
    Python lists of floats (12 KB a vector instead of 1.5 KB)."""
    hashes = table.column("text_hash").to_pylist()
    values = table.column("embedding").combine_chunks().flatten()
    matrix = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32)
    matrix = matrix.reshape(len(hashes), -1)  # (N, d): every vector of a model has d values
    for key, vector in zip(hashes, matrix):
        yield key, vector.copy()


class ReadVectors(beam.PTransform):
    """(text_hash, vector) pairs of embeddings files. Each consumer should read its own: the
    local runner holds a PCollection in memory when two steps consume it."""

    def __init__(self, files: list[str], label: str) -> None:
        super().__init__(label=f"Read vectors ({label})")
        self._files = files

    def expand(self, pbegin):
        return (pbegin
                | "List embeddings files" >> beam.Create(self._files)
                | "Read embeddings" >> beam.io.ReadAllFromParquetBatched(
                    columns=["text_hash", "embedding"])
                | "Vectors" >> beam.FlatMap(vectors_of))
