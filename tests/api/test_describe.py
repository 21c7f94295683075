"""womtool describe in Cromwell's shapes (WomBundleToWomDescribe): meta, structs, nonEmpty, libraries and lone tasks."""
from tests.api.conftest import upload

ANNOTATE = b"""version 1.0
struct Sample { String name  Array[File]+ reads }
workflow annotate {
  meta { author: "Ada"  revision: 2  draft: true  tags: ["a", "b"]  contact: { team: "genomics" } }
  parameter_meta { sample: { help: "the sample" }  counts: "how many" }
  input { Sample sample  Array[Int] counts  Array[String]+? names }
  output { Sample out = sample }
}
"""
LIBRARY = b"""version 1.0
task a { command <<< echo a >>> runtime { docker: "ubuntu:22.04" } }
task b { command <<< echo b >>> }
"""
LONE_TASK = b"""version 1.0
task t {
  meta { description: "one task" }
  input { Int n }
  command <<< echo ~{n} >>>
  output { String out = read_string(stdout()) }
}
"""
SAMPLE = {"typeName": "Object", "objectFieldTypes": [
    {"fieldName": "name", "fieldType": {"typeName": "String"}},
    {"fieldName": "reads", "fieldType": {"typeName": "Array", "arrayType": {"typeName": "File"}, "nonEmpty": True}},
]}


def _describe(client, headers, wdl: bytes, **parts):
    response = client.post("/api/womtool/v1/describe", {"workflowSource": upload(wdl, "w.wdl"), **parts}, **headers)
    assert response.status_code == 200, response.content
    return response.json()


def test_describe_answers_the_workflows_meta_and_parameter_meta(client, alice_auth):
    body = _describe(client, alice_auth, ANNOTATE)
    assert body["meta"] == {"author": "Ada", "revision": 2, "draft": True, "tags": ["a", "b"],
                            "contact": {"team": "genomics"}}
    assert body["parameterMeta"] == {"sample": {"help": "the sample"}, "counts": "how many"}
    assert body["isRunnableWorkflow"] and body["valid"] and body["name"] == "annotate"


def test_describe_lists_struct_fields_and_non_empty_arrays(client, alice_auth):
    body = _describe(client, alice_auth, ANNOTATE)
    inputs = {i["name"]: i["valueType"] for i in body["inputs"]}
    assert inputs["annotate.sample"] == SAMPLE
    assert inputs["annotate.counts"] == {"typeName": "Array", "arrayType": {"typeName": "Int"}, "nonEmpty": False}
    assert inputs["annotate.names"] == {"typeName": "Optional", "optionalType": {
        "typeName": "Array", "arrayType": {"typeName": "String"}, "nonEmpty": True}}
    assert body["outputs"] == [{"name": "annotate.out", "valueType": SAMPLE, "typeDisplayName": "Sample"}]


def test_a_library_of_tasks_is_valid_but_not_a_runnable_workflow(client, alice_auth):
    body = _describe(client, alice_auth, LIBRARY)
    assert body == {
        "valid": True, "errors": [], "validWorkflow": True, "name": "", "inputs": [], "outputs": [],
        "images": ["ubuntu:22.04"], "submittedDescriptorType": {"descriptorType": "WDL", "descriptorTypeVersion": "1.0"},
        "importedDescriptorTypes": [], "meta": {}, "parameterMeta": {}, "isRunnableWorkflow": False,
    }
    with_inputs = _describe(client, alice_auth, LIBRARY, workflowInputs=upload({"a.x": 1}, "i.json"))
    assert not with_inputs["valid"] and with_inputs["errors"] == ["There is no workflow or task to check the inputs "
                                                                  "against"]


def test_a_lone_task_is_described_but_not_a_runnable_workflow(client, alice_auth):
    body = _describe(client, alice_auth, LONE_TASK)
    assert body["name"] == "t" and not body["isRunnableWorkflow"] and body["meta"] == {"description": "one task"}
    assert [i["name"] for i in body["inputs"]] == ["t.n"]


def test_describe_takes_yaml_inputs(client, alice_auth):
    good = _describe(client, alice_auth, LONE_TASK, workflowInputs=upload(b"t.n: 3\n", "i.yaml"))
    assert good["valid"] and good["errors"] == []
    bad = _describe(client, alice_auth, LONE_TASK, workflowInputs=upload(b"t.n: nope\n", "i.yaml"))
    assert not bad["valid"] and "t.n" in bad["errors"][0]


def test_a_library_still_cannot_be_submitted(client, alice_auth):
    from tests.api.conftest import submit

    response = submit(client, alice_auth, LIBRARY)
    assert response.status_code == 400 and "nothing says what to run" in response.json()["message"]


def test_describe_needs_a_token(client):
    response = client.post("/api/womtool/v1/describe", {"workflowSource": upload(LIBRARY, "w.wdl")})
    assert response.status_code == 401 and response.json()["status"] == "fail"
