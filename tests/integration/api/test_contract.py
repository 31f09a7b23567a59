"""The API's error contract on a real bangerd: a refused request names the field (body
path, query or path parameter) and the rule in one line, as ErrorBody; the document says
so for every route; the client turns those bodies back into banger's errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from banger import errors
from banger.client import Client
from banger.config.models import LimitSettings
from tests.helpers.daemon import RunningDaemon, make_daemon

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    running = make_daemon(tmp_path_factory.mktemp("contract") / "d")
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _refusal(daemon: RunningDaemon, method: str, path: str, **kwargs: Any) -> tuple[int, dict]:  # type: ignore[type-arg]
    with daemon.http() as http:
        response = http.request(method, path, **kwargs)
    assert response.headers["content-type"] == "application/json", response.text
    body = response.json()
    assert set(body) == {"code", "message", "hint"}, body
    assert "\n" not in body["message"]
    return response.status_code, body


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/kernels/import", {"name": "k"}, "missing body field 'source': required"),
        (
            "/images/register",
            {"name": "img", "rootfs": "", "kernel_ref": "k"},
            "invalid body field 'rootfs' '': must be an absolute path",
        ),
        (
            "/kernels/import",
            {"name": "Not_A_Name", "source": "/k"},
            "invalid body field 'name' 'Not_A_Name': use 1-63 lower-case letters",
        ),
        (
            "/vms",
            {"image": "img", "cpus": 0},
            "invalid body field 'cpus' 0: Input should be greater than or equal to 1",
        ),
        (
            "/vms",
            {"image": "img", "colour": "red"},
            "invalid body field 'colour' 'red': not a field",
        ),
        (
            "/images/register",
            {"name": "img", "rootfs": "/r", "kernel_ref": "k", "kernel_file": "/k"},
            "invalid request body: give exactly one of kernel_ref",
        ),
        (
            "/images/build",
            {"from_image": "b", "name": "n", "steps": [{"kind": "copy", "src": "x", "dst": "/"}]},
            "invalid body field 'steps.0': a copy step needs an absolute host path as src",
        ),
    ],
)
def test_a_refused_body_names_its_field_and_rule(
    daemon: RunningDaemon,
    path: str,
    body: dict,
    message: str,  # type: ignore[type-arg]
) -> None:
    status, error = _refusal(daemon, "POST", path, json=body)
    assert (status, error["code"]) == (400, "invalid_argument")
    assert error["message"].startswith(message), error


def test_a_missing_or_broken_body_says_so(daemon: RunningDaemon) -> None:
    status, error = _refusal(daemon, "POST", "/kernels/import")
    assert status == 400 and error["message"] == "missing request body: send a JSON object"
    json_type = {"content-type": "application/json"}
    status, error = _refusal(daemon, "POST", "/kernels/import", content=b"{", headers=json_type)
    assert status == 400 and error["message"].startswith("invalid request body: not valid JSON")


def test_a_refused_query_parameter_is_named(daemon: RunningDaemon) -> None:
    status, error = _refusal(daemon, "POST", "/vms/any/stop", params={"force": "maybe"})
    assert status == 400
    assert error["message"].startswith("invalid query parameter 'force' 'maybe': Input should be")
    status, error = _refusal(daemon, "GET", "/vms/any/console", params={"tail": "-1"})
    assert status == 400 and error["message"].startswith("invalid query parameter 'tail' '-1'")


def test_unknown_routes_and_methods_answer_the_error_body(daemon: RunningDaemon) -> None:
    status, error = _refusal(daemon, "GET", "/no-such-thing")
    assert (status, error["code"]) == (404, "not_found")
    with daemon.http() as http:
        response = http.request("PUT", "/vms/any")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
    # GET and DELETE /v1/vms/{name} are two routes: Allow names both.
    assert response.headers["allow"] == "DELETE, GET, HEAD"
    with daemon.http() as http:  # a concrete path wins over /v1/images/{name}, as in OpenAPI
        response = http.request("PUT", "/images/register")
    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_the_client_decodes_an_error_body_back_into_its_error(daemon: RunningDaemon) -> None:
    with Client(daemon.socket) as client:
        with pytest.raises(errors.InvalidArgument, match="missing body field 'source'") as bad:
            client.post("/kernels/import", {"name": "k"})
        assert bad.value.hint and "openapi.json" in bad.value.hint
        with pytest.raises(errors.NotFound, match="no VM named 'ghost'"):
            client.get("/vms/ghost")


def _document(daemon: RunningDaemon) -> dict:  # type: ignore[type-arg]
    with daemon.http() as http:
        return http.get("/openapi.json").json()  # type: ignore[no-any-return]


def test_every_route_documents_its_errors_as_the_one_error_body(daemon: RunningDaemon) -> None:
    doc = _document(daemon)
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)  # validation answers 400
            assert {"400", "403", "411", "413", "500"} <= set(responses), (method, path)
            for status, response in responses.items():
                if int(status) >= 400:
                    assert response["content"] == {"application/json": {"schema": error_ref}}
            if "{" in path:  # a route that looks an object up can answer: not found
                assert "404" in responses, (method, path)
    code = doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]
    assert set(code["enum"]) == set(errors.ERROR_CODES)
    assert "ValidationError" not in doc["components"]["schemas"]


def test_request_schemas_carry_the_configured_limits_and_rules(daemon: RunningDaemon) -> None:
    schemas = _document(daemon)["components"]["schemas"]
    limits = LimitSettings()  # make_daemon's config keeps the defaults
    cpus = schemas["VMCreate"]["properties"]["cpus"]["anyOf"][0]
    assert cpus["maximum"] == limits.max_cpus
    disk = schemas["VMCreate"]["properties"]["disk_size_mib"]["anyOf"][0]
    assert disk["maximum"] == limits.max_disk_mib
    assert "image" in schemas["VMCreate"]["required"]
    source = schemas["KernelImport"]["properties"]["source"]
    assert source["pattern"].startswith("^/")
    assert len(schemas["ImageRegister"]["oneOf"]) == 2


def test_docs_api_md_has_a_curl_example_for_every_route_family(daemon: RunningDaemon) -> None:
    doc_md = (Path(__file__).parents[3] / "docs" / "api.md").read_text()
    examples = [line for line in doc_md.splitlines() if "curl" in line and "--unix-socket" in line]
    families = {path.split("/")[2] for path in _document(daemon)["paths"]}
    assert {"vms", "images", "kernels", "operations", "network"} <= families
    for family in families:
        assert any(f"/v1/{family}" in line for line in examples), family
