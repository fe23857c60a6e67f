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
    source_columns,
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


def test_parquet_cell_not_utf8_rejects_only_its_row():
    buffer = io.BytesIO()
    text = pa.array([b"ok", b"bad \xff", b"fine"], pa.binary()).view(pa.string())
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": text}), buffer)
    buffer.seek(0)
    items = list(read_parquet(buffer, "f.parquet"))
    assert [(i.row, i.values["id"]) for i in items if isinstance(i, RawRow)] == [(1, "a"), (3, "c")]
    [bad] = [i for i in items if isinstance(i, Rejected)]
    assert (bad.row, bad.reason, bad.field) == (2, "undecodable_bytes", "text")
    assert "\\udcff" in bad.raw


def test_hf_saved_dataset_and_split(tmp_path):
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["x", "y"]}),
                          "test": datasets.Dataset.from_dict({"text": ["z"]})}).save_to_disk(
        str(tmp_path / "ds"))
    rows = list(read_hf_dataset(str(tmp_path / "ds"), "train"))
    assert [r.values["text"] for r in rows] == ["x", "y"]
    assert [r.values["text"] for r in read_hf_dataset(str(tmp_path / "ds"), "test")] == ["z"]
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


def test_csv_bad_byte_inside_a_multiline_cell_rejects_the_whole_row_naming_the_column():
    data = b'id,text\nb1,"line1\nbad\xff\nend"\ng1,ok\n'
    items = list(read_csv(_stream(data), "f.csv"))
    assert [(i.row, i.values["id"]) for i in items if isinstance(i, RawRow)] == [(5, "g1")]
    [bad] = [i for i in items if isinstance(i, Rejected)]
    assert (bad.row, bad.reason, bad.field) == (2, "undecodable_bytes", "text")


def test_csv_row_whose_quote_closes_lines_later_is_rejected_whole():
    data = b'id,text\nbad,"opens\nfake,fragment\ncloses"x\ng1,ok\n'
    items = list(read_csv(_stream(data), "f.csv"))
    assert [(i.row, i.values["id"]) for i in items if isinstance(i, RawRow)] == [(5, "g1")]
    [bad] = [i for i in items if isinstance(i, Rejected)]
    assert (bad.row, bad.reason) == (2, "unparseable") and bad.raw.endswith('closes"x')


def test_csv_header_that_cannot_be_decoded_makes_the_file_unreadable():
    [bad] = read_csv(_stream(b"id,cat\xe9gorie\ng1,a\ng2,b\n"), "f.csv")
    assert (bad.row, bad.reason) == (1, "unreadable_file")


def test_jsonl_escaped_lone_surrogate_is_undecodable_naming_the_column():
    data = b'{"text": "ok", "note": "x \\udc80"}\n{"text": "fine"}\n'
    bad, good = read_jsonl(_stream(data), "f.jsonl")
    assert (bad.row, bad.reason, bad.field) == (1, "undecodable_bytes", "note")
    assert good == RawRow("f.jsonl", 2, {"text": "fine"})


def test_csv_stray_quote_before_a_well_formed_quoted_line_costs_only_its_line():
    data = b'text,label\n"oops,a\ngood1,b\n"quoted",c\n'
    items = list(read_csv(_stream(data), "f.csv"))
    assert [(i.row, i.values["text"]) for i in items if isinstance(i, RawRow)] == [
        (3, "good1"), (4, "quoted")]
    assert [(i.row, i.reason) for i in items if isinstance(i, Rejected)] == [(2, "unparseable")]


def test_source_columns_of_each_format(tmp_path):
    import datasets

    (tmp_path / "a.jsonl").write_text('{"sku": 1}\nbroken\n{"text": "x"}\n')
    (tmp_path / "a.csv").write_bytes("sku;texte\n1;é\n".encode("latin-1"))
    pq.write_table(pa.table({"sku": [1], "body": ["x"]}), tmp_path / "a.parquet")
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"q": ["x"]})}).save_to_disk(
        str(tmp_path / "saved"))
    assert source_columns(str(tmp_path / "a.jsonl"), "jsonl") == {"sku", "text"}
    assert source_columns(str(tmp_path / "a.csv"), "csv", "latin-1", ";") == {"sku", "texte"}
    assert source_columns(str(tmp_path / "a.parquet"), "parquet") == {"sku", "body"}
    assert source_columns(str(tmp_path / "saved"), "hf", hf_split="train") == {"q"}
    assert source_columns(str(tmp_path / "saved"), "hf", hf_split=None) is None
