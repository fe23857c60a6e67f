import io

import pyarrow as pa
import pyarrow.parquet as pq

from transforms.ingest.readers import (
    RawRow,
    Rejected,
    read_csv,
    read_hf_dataset,
    read_jsonl,
    read_parquet,
)


def _stream(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


def test_jsonl_bad_lines_do_not_stop_the_file():
    data = b'{"text": "a"}\n{broken\n[1, 2]\n\n{"text": "caf\xe9"}\n{"text": "b"}\n'
    items = list(read_jsonl(_stream(data), "f.jsonl"))
    rows = [i for i in items if isinstance(i, RawRow)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert [(r.row, r.values["text"]) for r in rows] == [(1, "a"), (6, "b")]
    assert [(r.row, r.reason) for r in rejected] == [
        (2, "unparseable"), (3, "unparseable"), (5, "undecodable_bytes")]
    assert "JSON object" in rejected[1].detail


def test_jsonl_reads_other_encodings():
    rows = list(read_jsonl(_stream('{"text": "café"}\n'.encode("latin-1")), "f", "latin-1"))
    assert rows == [RawRow("f", 1, {"text": "café"})]


def test_csv_rows_name_their_physical_line():
    data = b'text,label\n"multi\nline",a\nshort\n\xff\xfe,b\nok,c\n'
    items = list(read_csv(_stream(data), "f.csv"))
    assert [(i.row, i.values) for i in items if isinstance(i, RawRow)] == [
        (2, {"text": "multi\nline", "label": "a"}), (6, {"text": "ok", "label": "c"})]
    assert [(i.row, i.reason) for i in items if isinstance(i, Rejected)] == [
        (4, "unparseable"), (5, "undecodable_bytes")]


def test_csv_empty_cells_are_missing_and_blank_rows_skipped():
    items = list(read_csv(_stream(b"text,label\nhello,\n,\n"), "f.csv"))
    assert items == [RawRow("f.csv", 2, {"text": "hello", "label": None})]


def test_csv_delimiter_and_encoding():
    data = "text;label\nrésumé;x\n".encode("cp1252")
    items = list(read_csv(_stream(data), "f.csv", "cp1252", ";"))
    assert items == [RawRow("f.csv", 2, {"text": "résumé", "label": "x"})]


def test_parquet_rows_and_unreadable_file():
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": ["a", "b"], "n": [1, 2]}), buffer)
    buffer.seek(0)
    assert [i.values for i in read_parquet(buffer, "f.parquet")] == [
        {"text": "a", "n": 1}, {"text": "b", "n": 2}]
    [bad] = read_parquet(_stream(b"not parquet"), "bad.parquet")
    assert bad.reason == "unreadable_file" and bad.row is None


def test_hf_saved_dataset_and_split(tmp_path):
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["x", "y"]})}).save_to_disk(
        str(tmp_path / "ds"))
    rows = list(read_hf_dataset(str(tmp_path / "ds"), "train"))
    assert [r.values["text"] for r in rows] == ["x", "y"]
    [missing_split] = read_hf_dataset(str(tmp_path / "ds"), None)
    assert missing_split.reason == "unreadable_file" and "hf_split" in missing_split.detail
    [not_saved] = read_hf_dataset(str(tmp_path / "nothing"), None)
    assert not_saved.reason == "unreadable_file"


def test_csv_unterminated_quote_costs_only_its_first_line():
    data = b'text,label\ngood0,a\n"unterminated,a\ngood1,b\ngood2,c\n'
    items = list(read_csv(_stream(data), "f.csv"))
    assert [(i.row, i.values["text"]) for i in items if isinstance(i, RawRow)] == [
        (2, "good0"), (4, "good1"), (5, "good2")]
    [bad] = [i for i in items if isinstance(i, Rejected)]
    assert (bad.row, bad.reason, bad.raw) == (3, "unparseable", '"unterminated,a')


def test_utf8_byte_order_mark_is_not_data():
    csv_items = list(read_csv(_stream(b"\xef\xbb\xbftext,label\nhello,a\n"), "f.csv"))
    assert csv_items == [RawRow("f.csv", 2, {"text": "hello", "label": "a"})]
    jsonl_items = list(read_jsonl(_stream(b'\xef\xbb\xbf{"text": "hi"}\n'), "f.jsonl"))
    assert jsonl_items == [RawRow("f.jsonl", 1, {"text": "hi"})]
