"""The console's own JSON (/console/api/*): answers and every failure path, without a browser."""

from __future__ import annotations

from typing import Any

import httpx
import yaml

from .conftest import ROOT, Service


def codes(response: Any) -> list[str]:
    return [issue["code"] for issue in response.json()["issues"]]


def test_meta_has_the_schema_cities_and_every_example(service: Service) -> None:
    meta = service.http.get("/console/api/meta").json()
    assert meta["schema"]["title"] == "gongji fact document"
    assert [c["id"] for c in meta["cities"]] == ["130600", "140100", "341100", "360900"]
    assert len(meta["examples"]) == len(list((ROOT / "examples").glob("*.yaml")))
    assert meta["labels"]["relationship"]["spouse"] == {"zh": "配偶", "en": "spouse"}


def test_pages_and_assets_are_served_without_external_resources(service: Service) -> None:
    for page in ("decide", "rules", "matrix", "audit", "audit/some-id"):
        response = service.http.get(f"/console/{page}")
        assert response.status_code == 200 and "console.js" in response.text
        assert "http://" not in response.text and "https://" not in response.text
    script = service.http.get("/console/static/console.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "https://" not in script.text  # no CDN
    landing = service.http.get("/console/?lang=en", follow_redirects=True)
    assert landing.status_code == 200 and landing.url.path == "/console/decide" and landing.url.query == b"lang=en"


def test_bad_query_values_are_422_with_a_pointer(service: Service) -> None:
    bad_date = service.http.get("/console/api/rules", params={"city": "140100", "as_of": "2024-13-01"})
    assert bad_date.status_code == 422 and codes(bad_date) == ["invalid_date"]
    assert bad_date.json()["issues"][0]["pointer"] == "/as_of"
    unknown_city = service.http.get("/console/api/rules", params={"city": "999999", "as_of": "2024-01-01"})
    assert unknown_city.status_code == 422 and codes(unknown_city) == ["unknown_city"]
    bad_switch = service.http.get("/console/api/matrix", params={"as_of": "2025-01-01", "switch": "nope=x"})
    assert bad_switch.status_code == 422 and codes(bad_switch) == ["unknown_switch"]
    bad_lang = service.http.get("/console/api/matrix", params={"as_of": "2025-01-01", "lang": "fr"})
    assert bad_lang.status_code == 422 and codes(bad_lang) == ["unknown_language"]
    missing = service.http.get("/console/api/changes", params={"city": "140100", "from": "2024-01-01"})
    assert missing.status_code == 422 and codes(missing) == ["invalid_date"]
    document = service.http.get("/console/api/sources/nope.txt")
    assert document.status_code == 422 and codes(document) == ["unknown_document"]
    logged = service.http.get("/console/api/audit/not-a-logged-id")
    assert logged.status_code == 404 and codes(logged) == ["unknown_decision"]


def test_pasted_documents_parse_or_say_where_they_break(service: Service) -> None:
    text = (ROOT / "examples" / "chuzhou-binding.yaml").read_text(encoding="utf-8")
    parsed = service.http.post("/console/api/parse", content=text.encode(), headers={"content-type": "application/yaml"})
    assert parsed.status_code == 200 and parsed.json()["document"] == yaml.safe_load(text)
    broken = service.http.post("/console/api/parse", content=b"request: binding\n  as_of: [", headers={"content-type": "application/yaml"})
    assert broken.status_code == 422 and codes(broken) == ["yaml_syntax_error"]
    assert broken.json()["issues"][0]["line"] == 2
    exact = service.http.post("/console/api/parse", content=b'{"expense": {"amount": 300.10}}',
                              headers={"content-type": "application/json"})
    assert exact.json()["document"] == {"expense": {"amount": "300.10"}}  # exact, never a float
    scalar = service.http.post("/console/api/parse", content=b"[1, 2]", headers={"content-type": "application/json"})
    assert scalar.status_code == 422 and codes(scalar) == ["invalid_document"]


def test_changes_between_two_days_come_from_the_diff_snapshots(service: Service) -> None:
    same = service.http.get("/console/api/changes", params={"city": "140100", "from": "2024-10-01", "to": "2024-10-02"})
    assert same.status_code == 200 and same.json()["changes"] == []
    widened = service.http.get("/console/api/changes", params={"city": "140100", "from": "2024-08-01", "to": "2024-10-01"})
    ids = {c["id"]: c for c in widened.json()["changes"]}
    assert ids["relationship_scope"]["change"] == "value"
    assert "兄弟姐妹" in ids["relationship_scope"]["new_text"]["zh"]
    assert "兄弟姐妹" not in ids["relationship_scope"]["old_text"]["zh"]


def test_suggestions_are_verified_documents(service: Service) -> None:
    document = yaml.safe_load((ROOT / "examples" / "taiyuan-binding.yaml").read_text(encoding="utf-8"))
    document["relationship"] = "other"
    answer = service.http.post("/console/api/suggestions", json=document).json()
    assert answer["eligible"] is False
    for suggestion in answer["suggestions"]:
        assert service.decide(suggestion["document"])["eligible"] is suggestion["eligible"]
    assert any(s["eligible"] for s in answer["suggestions"] if s["kind"] == "facts")
    eligible = yaml.safe_load((ROOT / "examples" / "taiyuan-binding.yaml").read_text(encoding="utf-8"))
    assert service.http.post("/console/api/suggestions", json=eligible).json()["suggestions"] == []
    invalid = service.http.post("/console/api/suggestions", json={"request": "binding"})
    assert invalid.status_code == 422


def test_audit_of_a_document_keeps_only_its_jurisdiction(service: Service) -> None:
    document = yaml.safe_load((ROOT / "examples" / "taiyuan-payment.yaml").read_text(encoding="utf-8"))
    report = service.http.post("/console/api/audit", json=document).json()
    documents = {c["document"] for c in report["citations"]}
    assert "001_b7f52e36b1dd2f22.txt" in documents  # Taiyuan's own seed
    assert {c["document"] for c in report["omitted"]} & {"000_b1a913a873027671.txt", "003_9012a3a345cdc650.txt"}
    assert not documents & {c["document"] for c in report["omitted"]}
    for lang in ("zh", "en"):
        assert "000_b1a913a873027671.txt" not in report["explanation"][lang]
        assert "001_b7f52e36b1dd2f22.txt" in report["explanation"][lang]


def test_audit_lookup_runs_off_the_event_loop(service: Service, monkeypatch: Any) -> None:
    """A lookup that takes long (a long log) must not stop other requests: here it is held until
    /healthz has answered, which it could not do if the lookup ran on the event loop."""
    import threading
    import uuid

    from engine.console import data

    entered, release = threading.Event(), threading.Event()
    searched: list[str] = []

    def slow_find(log_path: Any, decision_id: str) -> None:
        searched.append(decision_id)
        entered.set()
        release.wait(20)  # bounded: on the event loop this would hold /healthz for 20 s
        return None

    monkeypatch.setattr(data, "find_logged", slow_find)
    # not a UUID: 404 at once, nothing searched (the typed text comes back masked by shape)
    junk = service.http.get("/console/api/audit/341102198001011234")
    assert junk.status_code == 404 and codes(junk) == ["unknown_decision"] and not searched
    assert "341102198001011234" not in junk.text
    wanted = str(uuid.uuid4())
    answers: list[Any] = []
    lookup = threading.Thread(target=lambda: answers.append(service.http.get(f"/console/api/audit/{wanted}")))
    lookup.start()
    try:
        assert entered.wait(20)
        with httpx.Client(base_url=service.base, timeout=10) as other:
            assert other.get("/healthz").status_code == 200  # answered while the lookup runs
    finally:
        release.set()
        lookup.join(30)
    assert searched == [wanted]
    assert answers and answers[0].status_code == 404 and codes(answers[0]) == ["unknown_decision"]


def test_find_logged_reads_from_the_end_and_stops_at_the_first_match(tmp_path: Any) -> None:
    import json
    import uuid

    from engine.console.data import LOG_BLOCK, find_logged

    ids = [str(uuid.uuid4()) for _ in range(3)]
    log = tmp_path / "decisions.jsonl"
    line = lambda i, n: json.dumps({"decision_id": i, "n": n, "pad": "x" * 300}, separators=(",", ":"))
    with open(log, "wb") as handle:
        handle.write(b"\xff\xfe not UTF-8, not JSON, no newline for a while " * 2000)  # an old, broken head
        handle.write(b"\n" + line(ids[0], 0).encode() + b"\n")
        for n in range(3 * LOG_BLOCK // 300):  # lines spanning several read blocks
            handle.write(line(ids[1], n).encode() + b"\n")  # ids[1] repeated: the newest copy wins
        handle.write(line(ids[2], -1).encode()[:50] + b"\n")  # a line cut short by a failed write
        handle.write(line(ids[2], 7).encode())  # the last line, no newline after it
    assert find_logged(log, ids[2]) == {"decision_id": ids[2], "n": 7, "pad": "x" * 300}
    assert (find_logged(log, ids[1]) or {})["n"] == 3 * LOG_BLOCK // 300 - 1
    assert (find_logged(log, ids[0]) or {})["n"] == 0  # found past the blocks and the broken head's end
    assert find_logged(log, str(uuid.uuid4())) is None
    assert find_logged(log, "not-an-id") is None and find_logged(None, ids[0]) is None


def test_a_document_that_does_not_load_is_reported_with_its_ids_masked(service: Service) -> None:
    """A load error (here: nested too deep under a key that is an ID-card number, and a YAML tag
    quoting one) is answered as the CLI prints it, masked: the service's 400 and the console's 422."""
    deep = b'{"authorizer": {"341122198205052345": ' + b'{"a": ' * 70 + b'1' + b'}' * 70 + b'}}'
    for answer in (service.http.post("/v1/decisions", content=deep, headers={"content-type": "application/json"}),
                   service.http.post("/console/api/parse", content=deep, headers={"content-type": "application/json"})):
        assert answer.status_code in (400, 422) and "nesting_too_deep" in codes(answer), answer.text
        assert "198205052345" not in answer.text and "341***********2345" in answer.text
    tagged = service.http.post("/console/api/parse", content=b"authorizer:\n  id: !!int 34112219820505234X\n",
                               headers={"content-type": "application/yaml"})
    assert tagged.status_code == 422 and "19820505234" not in tagged.text, tagged.text
