from __future__ import annotations

import pytest

from hashsearch.errors import InputError
from hashsearch.sources import Reader, SourceOptions, read_vectors


def read(path, **kw):
    r = Reader(path, SourceOptions(**kw))
    return list(r), r.stats


def test_jsonl_fields_and_metadata(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"id": 1, "text": "hello world", "lang": "en"}\n\n{"id": "b", "text": "x y"}\n')
    recs, stats = read(p)
    assert [r.id for r in recs] == ["1", "b"]
    assert recs[0].metadata == {"lang": "en"} and recs[0].line == 1 and recs[1].line == 3
    recs, _ = read(p, id_field="lang", text_field="text", skip_invalid=True)
    assert [r.id for r in recs] == ["en"]


@pytest.mark.parametrize(
    "content,message,line",
    [
        ('{"id": "a", "text": "ok"}\n{"id": "b", "text": \n', "invalid JSON", 2),
        ('{"id": "a", "text": "ok"}\n{"id": "b", "body": "no text"}\n', "missing text field 'text'", 2),
        ('{"id": "a", "text": "ok"}\n{"id": "a", "text": "again"}\n', "duplicate id 'a'", 2),
        ('{"id": "a", "text": "ok"}\n[1, 2]\n', "expected a JSON object", 2),
        ('{"text": "no id"}\n', "missing id field 'id'", 1),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path, content, message, line):
    p = tmp_path / "bad.jsonl"
    p.write_text(content)
    with pytest.raises(InputError) as e:
        read(p)
    assert e.value.line == line and message in str(e.value)
    assert str(e.value).startswith(f"{p}:{line}: ")
    recs, stats = read(p, skip_invalid=True)  # the documented skip, with a count
    assert stats.skipped_invalid == 1 and len(recs) == content.count("\n") - 1


def test_empty_documents_are_skipped_and_counted(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"id": "a", "text": "   "}\n{"id": "b", "text": "real"}\n{"id": "c", "text": ""}\n')
    recs, stats = read(p)
    assert [r.id for r in recs] == ["b"] and stats.skipped_empty == 2


def test_undecodable_line(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_bytes(b'{"id": "a", "text": "ok"}\n{"id": "b", "text": "caf\xe9"}\n')
    with pytest.raises(InputError, match=r"c.jsonl:2: cannot decode as utf-8"):
        read(p)
    recs, _ = read(p, encoding="latin-1")
    assert recs[1].text == "café"


def test_csv(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text('id,text,label\n1,"hello, world",greet\n2,second doc,x\n')
    recs, _ = read(p)
    assert [(r.id, r.text, r.metadata) for r in recs] == [
        ("1", "hello, world", {"label": "greet"}),
        ("2", "second doc", {"label": "x"}),
    ]
    bad = tmp_path / "d.csv"
    bad.write_text("id,body\n1,x\n")
    with pytest.raises(InputError, match=r"d.csv:1: no column 'text'"):
        read(bad)
    dup = tmp_path / "e.csv"
    dup.write_text("id,text\n1,a\n1,b\n")
    with pytest.raises(InputError, match=r"e.csv:3: duplicate id '1'"):
        read(dup)


def test_folder_ids_labels_and_undecodable_file(tmp_path):
    (tmp_path / "sci").mkdir()
    (tmp_path / "sci" / "a.txt").write_text("about atoms")
    (tmp_path / "top.txt").write_text("top level")
    (tmp_path / ".hidden").write_text("skip me")
    recs, _ = read(tmp_path)
    assert {r.id: r.metadata for r in recs} == {"sci/a.txt": {"label": "sci"}, "top.txt": {}}
    (tmp_path / "sci" / "bad.txt").write_bytes(b"\xff\xfe\xfa")
    with pytest.raises(InputError, match=r"bad.txt: cannot decode as utf-8"):
        read(tmp_path)
    recs, stats = read(tmp_path, skip_invalid=True)
    assert len(recs) == 2 and stats.skipped_invalid == 1


def test_vectors_npy_and_npz(tmp_path):
    import numpy as np

    np.save(tmp_path / "v.npy", np.ones((3, 4), np.float32))
    ids, v = read_vectors(tmp_path / "v.npy")
    assert ids == ["0", "1", "2"] and v.shape == (3, 4)
    np.savez(tmp_path / "v.npz", ids=np.array(["a", "b"]), emb=np.zeros((2, 4), np.float16))
    ids, v = read_vectors(tmp_path / "v.npz")
    assert ids == ["a", "b"] and v.dtype == np.float32
    bad = np.ones((2, 4), np.float32)
    bad[1, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(InputError, match="row 1 has a NaN"):
        read_vectors(tmp_path / "nan.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="without pickle"):
        read_vectors(tmp_path / "obj.npy")


def test_unknown_source_kind(tmp_path):
    p = tmp_path / "x.docx"
    p.write_text("x")
    with pytest.raises(InputError, match="unknown input type"):
        Reader(p)
