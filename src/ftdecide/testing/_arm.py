"""Azure's control plane (ARM): the deployment endpoint at :data:`ARM_DEPLOYMENT_PATH`.

``PUT`` creates a deployment of a fine-tuned model, ``GET`` polls it
(``provisioningState`` reaches ``Succeeded`` after ``arm_polls`` polls, or
``Failed`` when ``deployment_error`` is set) and ``DELETE`` removes it. A
bearer token and ``api-version`` are required, as on Azure.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Mapping

from ftdecide.testing._protocol import Handler, RecordedRequest, Reply, _public

if TYPE_CHECKING:
    from ftdecide.testing._server import OpenAICompatibleServer

__all__ = ["ARM_DEPLOYMENT_PATH"]

ARM_DEPLOYMENT_PATH = ("/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
                       "Microsoft.CognitiveServices/accounts/{account}/deployments/{name}")

ARM_SKUS = ("standard", "globalstandard", "developertier")


def _arm_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


def _arm_deployment(server: OpenAICompatibleServer, request: RecordedRequest,
                    match: "re.Match[str]") -> Reply:
    if "api-version" not in request.query:
        return _arm_error(400, "MissingApiVersionParameter",
                          "The api-version query parameter (?api-version=) is required.")
    if request.auth != "bearer":
        return _arm_error(401, "AuthenticationFailed",
                          "Authentication failed. The 'Authorization' header is missing.")
    name = match.group("name")
    found = server.deployments.get(name)
    if request.method == "PUT":
        body = request.json if isinstance(request.json, Mapping) else {}
        sku = (body.get("sku") or {}).get("name", "")
        model = ((body.get("properties") or {}).get("model") or {})
        if str(sku).lower() not in ARM_SKUS:
            return _arm_error(400, "InvalidResourceProperties",
                              f"The sku '{sku}' is not supported.")
        if model.get("format") != "OpenAI" or model.get("name") not in server.fine_tuned_models():
            return _arm_error(400, "DeploymentModelNotSupported",
                              f"The model '{model.get('name')}' is not a fine-tuned model of "
                              "this resource.")
        deployment = {
            "id": request.path, "name": name,
            "type": "Microsoft.CognitiveServices/accounts/deployments",
            "sku": {"name": sku, "capacity": (body.get("sku") or {}).get("capacity", 1)},
            "properties": {"model": dict(model), "provisioningState": "Creating"},
            "_polls": 0,
        }
        server.deployments[name] = deployment
        return Reply(201, _public(deployment))
    if found is None:
        return _arm_error(404, "DeploymentNotFound", f"Deployment '{name}' not found.")
    props = found["properties"]
    if request.method == "DELETE":
        props["provisioningState"] = "Deleting"
        found["_polls"] = 0
        return Reply(202, None, headers={"Retry-After": "0"})
    found["_polls"] += 1
    if props["provisioningState"] == "Deleting":
        if found["_polls"] >= 1:
            del server.deployments[name]
            return _arm_error(404, "DeploymentNotFound", f"Deployment '{name}' not found.")
    elif props["provisioningState"] == "Creating" and found["_polls"] >= server.arm_polls:
        if server.deployment_error:
            props["provisioningState"] = "Failed"
            props["error"] = {"code": "DeploymentFailed", "message": server.deployment_error}
        else:
            props["provisioningState"] = "Succeeded"
    return Reply(200, _public(found))


#: Served at :data:`ARM_DEPLOYMENT_PATH` (not under the API prefixes).
ROUTES: list[tuple[str, str, Handler]] = [
    (method, ARM_DEPLOYMENT_PATH, _arm_deployment) for method in ("PUT", "GET", "DELETE")
]
