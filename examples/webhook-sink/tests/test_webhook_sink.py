"""The webhook sink on a temporary project, posting to a real server on 127.0.0.1 (`http_recorder`)."""
from datetime import date

POSTS = {"posts/leeds.md": "---\ntitle: A day in Leeds\ndate: 2016-03-01\n---\nWhat peer support can do.\n"}
TOML = '[sources.blog]\ntype = "blog"\npath = "posts"\n' \
       '[sinks.chat]\ntype = "webhook"\nurl = "{url}/hook"\ntoken_env = "TOKEN"\n'


def test_each_new_issue_is_posted_once_with_the_token(pipeline_project, http_recorder, monkeypatch):
    monkeypatch.setenv("TOKEN", "s3cret")
    project = pipeline_project(TOML.format(url=http_recorder.url), POSTS)
    project.run(as_of=date(2016, 4, 1))
    project.refresh(as_of=date(2016, 4, 2))  # no new issue: nothing posted
    (request,) = http_recorder.requests
    assert (request.path, request.headers["Authorization"]) == ("/hook", "Bearer s3cret")
    assert request.json()["url"] == "https://network.example.org/archive/issue-1.html"
    assert [item["url"] for item in request.json()["items"]] == ["https://network.example.org/blog/leeds/"]
    http_recorder.status = 503
    project.write({"posts/may.md": "---\ntitle: May\ndate: 2016-04-20\n---\nMore.\n"})
    assert project.run(as_of=date(2016, 5, 1), check=False).exit_code == 1  # a refused post fails the run
