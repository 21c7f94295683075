"""Loading WDL and checking inputs: what a scientist sees when the WDL or the inputs are wrong."""
import io
import zipfile

import pytest

from tests.engine.driver import run_workflow
from workflows import engine

HELLO = """version 1.0

workflow hello {
  input {
    String name
    Int times = 2
    Array[File]+ reads
    String? note
  }
  call say { input: who = name }
  output {
    String greeting = say.text
  }
}

task say {
  input {
    String who
    String punctuation = "!"
  }
  command <<<
    echo "Hello, ~{who}~{punctuation}"
  >>>
  output {
    String text = read_string(stdout())
  }
  runtime {
    docker: "ubuntu:22.04"
  }
}
"""


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def load_error(source: str, **kwargs) -> engine.WdlError:
    with pytest.raises(engine.WdlError) as caught:
        engine.load(source, **kwargs)
    return caught.value


# --- describing a document


def test_it_describes_a_workflow_like_womtool():
    doc = engine.load(HELLO)

    assert doc.name == "hello"
    assert doc.version == "1.0"
    assert not doc.is_task
    specs = {spec.name: spec for spec in doc.inputs}
    assert specs["hello.name"] == engine.InputSpec(name="hello.name", type="String", optional=False,
                                                   default=None, required=True)
    assert specs["hello.times"] == engine.InputSpec(name="hello.times", type="Int", optional=False,
                                                    default="2", required=False)
    assert specs["hello.reads"].type == "Array[File]+"
    assert specs["hello.note"].optional and not specs["hello.note"].required
    assert specs["hello.say.punctuation"].default == '"!"'
    assert doc.outputs == [engine.OutputSpec(name="hello.greeting", type="String")]
    assert doc.images == ["ubuntu:22.04"]


def test_a_document_with_only_a_task_runs_that_task():
    doc = engine.load("version 1.0\ntask lonely {\n  input { Int n }\n  command <<< echo ~{n} >>>\n"
                      "  output { Int m = read_int(stdout()) }\n}\n")

    assert doc.is_task
    assert doc.name == "lonely"
    assert [spec.name for spec in doc.inputs] == ["lonely.n"]
    assert [spec.name for spec in doc.outputs] == ["lonely.m"]


def test_it_loads_wdl_1_1_and_draft_2():
    assert engine.load("version 1.1\nworkflow w {\n  String? s = None\n}\n").version == "1.1"
    assert engine.load("workflow w {\n  String s = 'x'\n}\n").version == "draft-2"


def test_images_lists_only_literal_docker_values():
    doc = engine.load("""version 1.0
workflow w {
  call a
  call b { input: image = "x:1" }
}
task a {
  command <<< >>>
  runtime { container: ["quay.io/a:1", "a:1"] }
}
task b {
  input { String image }
  command <<< >>>
  runtime { docker: image }
}
""")
    assert doc.images == ["a:1", "quay.io/a:1"]


# --- bad WDL


def test_a_syntax_error_names_file_line_and_column():
    error = load_error("version 1.0\nworkflow w {\n  Int x = 1 @ 2\n}\n")

    assert (error.uri, error.line, error.column) == ("main.wdl", 3, 13)
    assert str(error) == "main.wdl:3:13: syntax error: unexpected '@ 2'"


def test_an_unknown_type_names_its_position():
    error = load_error("version 1.0\nworkflow w {\n  input {\n    Foo x\n  }\n}\n", filename="pipeline.wdl")

    assert str(error) == "pipeline.wdl:4:5: Unknown type Foo"


def test_an_unknown_identifier_names_its_position():
    error = load_error("version 1.0\nworkflow w {\n  Int y = z\n}\n")

    assert (error.line, error.column) == (3, 11)
    assert "Unknown identifier z" in error.message


def test_a_missing_import_without_a_zip_points_at_the_import():
    error = load_error('version 1.0\nimport "lib.wdl" as lib\nworkflow w {}\n')

    assert str(error) == "main.wdl:2:1: lib.wdl was imported, but no imports zip was given"


def test_a_missing_import_in_the_zip_points_at_the_import():
    error = load_error('version 1.0\n\nimport "lib.wdl" as lib\nworkflow w {}\n',
                       imports=make_zip({"other.wdl": "version 1.0\n"}))

    assert (error.uri, error.line, error.column) == ("main.wdl", 3, 1)
    assert error.message == "lib.wdl is not in the imports zip"


def test_an_error_inside_an_imported_file_points_into_that_file():
    error = load_error('version 1.0\nimport "sub/lib.wdl" as lib\nworkflow w {}\n',
                       imports=make_zip({"sub/lib.wdl": "version 1.0\ntask t {\n  command <<< >>>\n"
                                                        "  output { Int x = [1] }\n}\n"}))

    assert (error.uri, error.line, error.column) == ("sub/lib.wdl", 4, 20)


def test_a_bad_zip_is_an_error_about_the_imports():
    error = load_error("version 1.0\nworkflow w {}\n", imports=b"not a zip")

    assert str(error).startswith("imports.zip: ")


def test_imports_never_reach_the_network_or_the_file_system():
    url = load_error('version 1.0\nimport "https://example.com/lib.wdl" as lib\nworkflow w {}\n',
                     imports=make_zip({}))
    outside = load_error('version 1.0\nimport "../../etc/hosts" as hosts\nworkflow w {}\n',
                         imports=make_zip({}))
    absolute = load_error('version 1.0\nimport "/etc/hosts" as hosts\nworkflow w {}\n',
                          imports=make_zip({}))

    assert "imports come only from the imports zip" in url.message
    assert outside.message == "../../etc/hosts is not in the imports zip"
    assert absolute.message == "/etc/hosts is not in the imports zip"


def test_nested_imports_resolve_next_to_the_importer_then_at_the_zip_root():
    imports = make_zip({
        "lib/wf.wdl": 'version 1.0\nimport "tasks.wdl" as near\nimport "common.wdl" as far\n'
                      "workflow inner {\n  call near.a\n  call far.b\n}\n",
        "lib/tasks.wdl": "version 1.0\ntask a {\n  command <<< >>>\n}\n",
        "common.wdl": "version 1.0\ntask b {\n  command <<< >>>\n}\n",
    })

    doc = engine.load('version 1.0\nimport "lib/wf.wdl" as lib\nworkflow outer {\n  call lib.inner\n}\n',
                      imports=imports)

    assert doc.task("lib.near.a").name == "a"
    assert doc.task("lib.far.b").name == "b"


def test_a_zip_of_a_folder_rather_than_its_contents_still_resolves():
    imports = make_zip({"my-imports/lib.wdl": "version 1.0\ntask a {\n  command <<< >>>\n}\n"})

    doc = engine.load('version 1.0\nimport "lib.wdl" as lib\nworkflow w {\n  call lib.a\n}\n', imports=imports)

    assert doc.task("lib.a").name == "a"


def test_a_document_with_several_tasks_and_no_workflow_cannot_run():
    error = load_error("version 1.0\ntask a {\n  command <<< >>>\n}\ntask b {\n  command <<< >>>\n}\n")

    assert "nothing says what to run" in error.message


# --- inputs


def test_check_inputs_returns_normalised_json():
    doc = engine.load(HELLO)

    checked = doc.check_inputs({"#comment": "ignored", "hello.name": "ann", "hello.reads": ["s3://b/r1.fq"],
                                "hello.say.punctuation": "?"})

    assert checked == {"hello.name": "ann", "hello.reads": ["s3://b/r1.fq"], "hello.say.punctuation": "?"}


def test_an_unknown_input_is_named():
    doc = engine.load(HELLO)

    with pytest.raises(engine.InputError) as caught:
        doc.check_inputs({"hello.name": "ann", "hello.reads": ["/r1"], "hello.nmae": "typo"})

    assert caught.value.key == "hello.nmae"
    assert str(caught.value) == "hello.nmae: unknown input"


def test_an_input_of_another_workflow_is_unknown():
    with pytest.raises(engine.InputError) as caught:
        engine.load(HELLO).check_inputs({"other.name": "ann"})

    assert caught.value.key == "other.name"


def test_a_missing_required_input_is_named():
    with pytest.raises(engine.InputError) as caught:
        engine.load(HELLO).check_inputs({"hello.name": "ann"})

    assert caught.value.key == "hello.reads"
    assert "required input is missing" in str(caught.value)


def test_a_value_of_the_wrong_type_is_named():
    with pytest.raises(engine.InputError) as caught:
        engine.load(HELLO).check_inputs({"hello.name": "ann", "hello.reads": ["/r1"], "hello.times": "many"})

    assert caught.value.key == "hello.times"
    assert "many" in caught.value.message


def test_an_empty_array_for_a_nonempty_array_is_rejected():
    with pytest.raises(engine.InputError) as caught:
        engine.load(HELLO).check_inputs({"hello.name": "ann", "hello.reads": []})

    assert caught.value.key == "hello.reads"


def test_file_inputs_may_be_uris_absolute_or_relative_paths():
    doc = engine.load(HELLO)
    inputs = {"hello.name": "ann", "hello.reads": ["s3://bucket/a.fq", "/data/b.fq", "c.fq"]}

    assert doc.check_inputs(inputs) == inputs


def test_map_input_files_rewrites_only_file_values():
    doc = engine.load(HELLO)
    inputs = {"hello.name": "c.fq", "hello.reads": ["c.fq", "s3://bucket/a.fq"]}

    mapped = doc.map_input_files(inputs, lambda path: path if "://" in path else "/case/" + path)

    assert mapped == {"hello.name": "c.fq", "hello.reads": ["/case/c.fq", "s3://bucket/a.fq"]}


def test_an_early_end_of_file_says_so_without_the_parsers_token_dump():
    error = load_error("version 1.0\ntask t {\n  command <<< echo >>>\n")

    assert str(error) == "main.wdl:3:20: syntax error: the file ends too early (is a closing } or >>> missing?)"
    assert "Token(" not in error.detail and "$END" not in error.detail


def test_the_detail_quotes_the_offending_line_with_a_caret_under_the_column():
    error = load_error("version 1.0\nworkflow w {\n  Int x = 1 @ 2\n}\n")

    assert error.detail == ("main.wdl:3:13: syntax error: unexpected '@ 2'\n"
                            "3 |   Int x = 1 @ 2\n"
                            "  |             ^")


def test_the_detail_quotes_the_line_of_the_imported_file_at_fault():
    error = load_error('version 1.0\nimport "lib.wdl" as lib\nworkflow w {}\n',
                       imports=make_zip({"lib.wdl": "version 1.0\ntask t {\n  command <<< >>>\n"
                                                    "  output { Int x = [1] }\n}\n"}))

    assert error.detail.splitlines()[1] == "4 |   output { Int x = [1] }"


# --- Cromwell's WDL 1.0 leniencies: refused, with the fix named


def test_the_object_type_is_read_as_a_map_of_strings_as_read_object_returns(tmp_path):
    doc = engine.load("""version 1.0
workflow w {
  call t
  Array[Object] rows = read_objects(t.many)
  output { Object o = t.o  Map[String, Object] by_name = {"x": t.o}  Int n = length(rows) }
}
task t {
  command <<<
    printf 'a\\tb\\n1\\t2\\n'
    printf 'a\\tb\\n1\\t2\\n3\\t4\\n' > many.tsv
  >>>
  output { Object o = read_object(stdout())  File many = "many.tsv" }
}
""")

    assert [(spec.name, spec.type) for spec in doc.outputs] == [
        ("w.o", "Map[String,String]"), ("w.by_name", "Map[String,Map[String,String]]"), ("w.n", "Int")]
    assert run_workflow(doc, {}, tmp_path) == ("Succeeded", {
        "w.o": {"a": "1", "b": "2"}, "w.by_name": {"x": {"a": "1", "b": "2"}}, "w.n": 2})


def test_a_wdl_1_1_call_without_input_keyword_runs_and_later_errors_keep_their_columns(tmp_path):
    source = """version 1.1
workflow w {
  call t { x = 1 }
  call t as u {
    x = 2, y = "b" }
  output { String a = t.out + u.out }
}
task t {
  input { Int x  String y = "a" }
  command <<< echo ~{x}~{y} >>>
  output { String out = read_string(stdout()) }
}
"""
    assert run_workflow(engine.load(source), {}, tmp_path) == ("Succeeded", {"w.a": "1a2b"})

    error = load_error(source.replace("x = 1 }", "x = nope }"))
    assert (error.line, error.column, error.message) == (3, 16, "Unknown identifier nope")
    assert error.detail.splitlines()[1:] == ["3 |   call t { x = nope }", "  |                ^"]


def test_an_object_the_respelling_cannot_reach_is_refused_naming_map_as_the_replacement():
    error = load_error("version 1.0\nstruct S {\n  Object o\n}\nworkflow w {\n  input { S s }\n}\n")

    assert (error.line, error.column) == (2, 1)  # miniwdl names the struct, not the member
    assert error.message.startswith("Object cannot be read as a type here")
    assert "declare Map[String, String] instead" in error.message


@pytest.mark.parametrize("word", ["left", "right"])
def test_an_output_named_left_or_right_is_refused_saying_to_rename_it(word):
    error = load_error(f'version 1.0\ntask t {{\n  command <<< echo >>>\n  output {{\n    String {word} = "a"\n  }}\n}}\n')

    assert (error.line, error.column) == (5, 5)
    assert error.message.startswith(f"{word} is reserved for the members of a Pair")
    assert f"rename it, for example to {word}_value" in error.message


@pytest.mark.parametrize("section, body, kept", [
    ("meta", 'author: "a"\n    email: "e"\n    author: "b"', {"author": "b", "email": "e"}),
    ("parameter_meta", 'x: { help: "a", x: "nested is fine" }\n    y: "b"\n    x: "c"\n    y: "d"', {"x": "c", "y": "d"}),
])
def test_duplicate_meta_keys_keep_the_last_entry_as_cromwell_does(section, body, kept):
    doc = engine.load(f"version 1.0\ntask t {{\n  input {{ Int x  Int y }}\n  command <<< echo >>>\n"
                      f"  {section} {{\n    {body}\n  }}\n}}\n")

    assert getattr(doc.tree.tasks[0], section) == kept


def test_a_duplicate_meta_key_over_several_lines_is_refused_naming_the_key():
    error = load_error('version 1.0\ntask t {\n  command <<< echo >>>\n  meta {\n    author: {\n      name: "a"\n    }\n'
                       '    email: "e"\n    author: "b"\n  }\n}\n')

    assert (error.line, error.column) == (4, 8)
    assert error.message.startswith("meta gives author more than once, and an earlier entry spans several lines")
    assert error.message.endswith("keep one entry for each key")


def test_a_key_given_twice_inside_a_meta_entry_is_refused_saying_so():
    error = load_error("version 1.0\ntask t {\n  command <<< echo >>>\n  meta {\n    author: { a: 1, a: 2 }\n  }\n}\n")

    assert (error.line, error.column) == (5, 13)
    assert error.message == "meta gives a key twice inside one of its entries: keep one entry for each key"


def test_an_imported_file_is_respelt_too_and_its_errors_keep_their_columns():
    lib = "version 1.0\ntask t {\n  command <<< echo >>>\n  output {\n    Object o = read_object(stdout())\n  }\n}\n"
    doc = engine.load('version 1.0\nimport "lib.wdl" as lib\nworkflow w {\n  call lib.t\n  output { Object o = t.o }\n}\n',
                      imports=make_zip({"lib.wdl": lib}))
    assert [(spec.name, spec.type) for spec in doc.outputs] == [("w.o", "Map[String,String]")]

    error = load_error('version 1.0\nimport "lib.wdl" as lib\nworkflow w {}\n',
                       imports=make_zip({"lib.wdl": lib.replace("read_object(stdout())", "read_object(nope)")}))
    assert (error.uri, error.line, error.column) == ("lib.wdl", 5, 28)
    assert error.detail.splitlines()[2] == "  |                            ^"
