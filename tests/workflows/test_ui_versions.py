"""A workflow version's WDL source, highlighted, and the differences between two versions."""
import pytest
from django.urls import reverse

from tests.workflows.test_views import BROKEN, HELLO, upload
from workflows.highlight import WdlLexer, wdl_diff, wdl_lines
from workflows.services import workflow_create, workflow_version_create

HELLO_2 = HELLO.replace(b'String who = "world"', b'String who = "<b>you</b>"').replace(
    b"  output { String greeting = greet.out }", b"  output {\n    String greeting = greet.out\n    Int n = 1\n  }")


@pytest.fixture
def workflow(project, alice):
    workflow = workflow_create(project=project, name="Hello", source=HELLO, filename="hello.wdl", user=alice)
    workflow_version_create(workflow=workflow, source=HELLO_2, filename="hello.wdl", user=alice)
    return workflow


def source_url(workflow, number):
    return reverse("workflows:version_source", args=[workflow.pk, number])


def diff_url(workflow, query):
    return reverse("workflows:version_diff", args=[workflow.pk]) + query


def test_a_versions_source_is_shown_highlighted_with_line_numbers(client, bob, workflow):
    client.force_login(bob)  # a viewer reads the WDL too
    page = client.get(source_url(workflow, 1)).content.decode()
    assert '<span class="wdl-kd">workflow</span><span class="wdl-w"> </span><span class="wdl-nc">hello</span>' in page
    assert '<span class="wdl-sh">&lt;&lt;&lt; echo "hello </span><span class="wdl-si">~{</span>' in page
    assert '<td class="n" id="L2">2</td>' in page
    detail = client.get(reverse("workflows:detail", args=[workflow.pk])).content.decode()
    assert f'href="{source_url(workflow, 2)}"' in detail


def test_the_source_is_escaped(client, alice, workflow):
    client.force_login(alice)
    page = client.get(source_url(workflow, 2)).content.decode()
    assert "&lt;b&gt;you&lt;/b&gt;" in page and "<b>you</b>" not in page


def test_the_diff_shows_changed_added_and_unchanged_lines_side_by_side(client, alice, workflow):
    client.force_login(alice)
    page = client.get(diff_url(workflow, "?from=1&to=2")).content.decode()
    changed = page.split('<tr class="changed">')[1].split("</tr>")[0]
    assert '<td class="n">3</td>' in changed and "\"world\"" in changed and "&lt;b&gt;you&lt;/b&gt;" in changed
    assert page.count('<tr class="changed">') == 2 and page.count('<tr class="added">') == 3
    assert '<tr class="skipped">' in page  # the task's unchanged lines are folded
    assert "No changes" not in page and "is the same" not in page


def test_a_version_compared_with_itself_says_so(client, alice, workflow):
    client.force_login(alice)
    assert "The two versions' WDL is the same" in client.get(diff_url(workflow, "?from=2&to=2")).content.decode()


@pytest.mark.parametrize("query", ["", "?from=1", "?to=2", "?from=x&to=2", "?from=1&to=-2", "?from=1&to=" + "9" * 10])
def test_bad_diff_parameters_are_400(client, alice, workflow, query):
    client.force_login(alice)
    assert client.get(diff_url(workflow, query)).status_code == 400


def test_an_unknown_version_is_404(client, alice, workflow):
    client.force_login(alice)
    assert client.get(source_url(workflow, 3)).status_code == 404
    assert client.get(diff_url(workflow, "?from=1&to=3")).status_code == 404


def test_an_outsider_gets_404_on_the_source_and_the_diff(client, carol, other_team, workflow):
    client.force_login(carol)
    for url in (source_url(workflow, 1), diff_url(workflow, "?from=1&to=2")):
        response = client.get(url)
        assert response.status_code == 404 and b"greet" not in response.content


def test_a_parse_error_on_the_new_version_form_names_file_line_and_column(client, alice, workflow):
    client.force_login(alice)
    response = client.post(reverse("workflows:version_upload", args=[workflow.pk]), {"source": upload("b.wdl", BROKEN)})
    page = response.content.decode()
    assert response.status_code == 400 and "b.wdl:3:3:" in page and "call nosuch" in page
    assert '<pre class="error field-error">' in page.split("Upload a new version")[1]


def test_the_lexer_reads_every_wdl_of_the_corpus_without_an_error_token():
    from pathlib import Path

    from pygments.token import Error

    corpus = sorted(Path(__file__).parents[1].glob("wdl_corpus/**/*.wdl"))
    assert corpus
    for path in corpus:
        errors = [value for token, value in WdlLexer().get_tokens(path.read_text()) if token is Error]
        assert not errors, (path, errors[:5])


def test_highlighting_keeps_one_fragment_a_line_even_through_a_multi_line_command():
    source = 'task t {\n  command <<<\n    echo a\n    echo "~{x}"\n  >>>\n}\n'
    lines = wdl_lines(source)
    assert len(lines) == 6 and all(line.count("<span") == line.count("</span>") for line in lines)
    assert wdl_diff(source, source) == []
