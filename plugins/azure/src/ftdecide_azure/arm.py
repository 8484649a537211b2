"""Azure's control plane (ARM): deploy and undeploy a fine-tuned model.

A fine-tuned model answers on Azure OpenAI only once it is *deployed*, and
a deployment bills by the hour whether it is used or not (Developer tier:
no fee, deleted after 24 hours; any deployment idle for 15 days is deleted).
Deployments are ARM resources, not data-plane objects (providers.md §4):

``PUT|GET|DELETE {arm}/subscriptions/{sub}/resourceGroups/{rg}/providers/
Microsoft.CognitiveServices/accounts/{account}/deployments/{name}?api-version=2024-10-01``

with an ARM bearer token (scope ``https://management.azure.com/.default``).
``PUT`` is create-or-update, so repeating it is safe; ``provisioningState``
is polled until ``Succeeded`` (or ``Failed``/``Canceled``).

Settings, each from the environment, else ``azure.yaml`` in ftdecide's user
config folder (keys in brackets):

- ``AZURE_SUBSCRIPTION_ID`` (``subscription_id``), ``AZURE_RESOURCE_GROUP``
  (``resource_group``), ``AZURE_OPENAI_ACCOUNT`` (``account``; default: the
  resource name in the endpoint's host, ``RESOURCE.openai.azure.com``);
- ``FTDECIDE_AZURE_ARM_URL`` (``arm_url``): the ARM base URL, default
  ``https://management.azure.com`` (tests point it at a local server);
- ``FTDECIDE_AZURE_ARM_TOKEN``: a bearer token (``az account
  get-access-token --resource https://management.azure.com``); without it
  ``azure-identity``'s ``DefaultAzureCredential`` is asked (the ``entra``
  extra). The token is never stored or printed.

Plain ``urllib``: no SDK is needed for four REST calls.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import ftdecide

API_VERSION = "2024-10-01"
SCOPE = "https://management.azure.com/.default"
DEFAULT_ARM_URL = "https://management.azure.com"
SUBSCRIPTION_ENV = "AZURE_SUBSCRIPTION_ID"
RESOURCE_GROUP_ENV = "AZURE_RESOURCE_GROUP"
ACCOUNT_ENV = "AZURE_OPENAI_ACCOUNT"
ARM_URL_ENV = "FTDECIDE_AZURE_ARM_URL"
ARM_TOKEN_ENV = "FTDECIDE_AZURE_ARM_TOKEN"
POLL_INTERVAL_ENV = "FTDECIDE_POLL_INTERVAL"
CONFIG_FILE = "azure.yaml"
#: ftdecide's tier names → the deployment SKU (and the training type they match).
SKUS = {"global": "globalstandard", "regional": "standard", "developer": "developertier"}
FINAL_STATES = ("Succeeded", "Failed", "Canceled")
ATTEMPTS = 6

TokenProvider = Callable[[], str]


@dataclass(frozen=True)
class Settings:
    subscription: str
    resource_group: str
    account: str
    arm_url: str

    def deployment_url(self, name: str) -> str:
        quote = urllib.parse.quote
        return (f"{self.arm_url.rstrip('/')}/subscriptions/{quote(self.subscription)}"
                f"/resourceGroups/{quote(self.resource_group)}/providers/"
                f"Microsoft.CognitiveServices/accounts/{quote(self.account)}/deployments/"
                f"{quote(name)}?api-version={API_VERSION}")


def _config_file() -> dict[str, Any]:
    path = ftdecide.paths.config_dir() / CONFIG_FILE
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ftdecide.UsageError(f"{path}: cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ftdecide.UsageError(f"{path}: expected a mapping of settings")
    return data


def settings(endpoint: str | None) -> Settings:
    """The ARM settings from the environment and ``azure.yaml``; every missing one is named."""
    config = _config_file()

    def get(env: str, key: str) -> str | None:
        value = os.environ.get(env, "").strip() or str(config.get(key) or "").strip()
        return value or None

    account = get(ACCOUNT_ENV, "account")
    if account is None and endpoint:
        host = urllib.parse.urlsplit(endpoint).hostname or ""
        if host.endswith((".openai.azure.com", ".cognitiveservices.azure.com")):
            account = host.split(".", 1)[0]
    values = {"subscription": get(SUBSCRIPTION_ENV, "subscription_id"),
              "resource_group": get(RESOURCE_GROUP_ENV, "resource_group"),
              "account": account}
    names = {"subscription": SUBSCRIPTION_ENV, "resource_group": RESOURCE_GROUP_ENV,
             "account": ACCOUNT_ENV}
    missing = [names[k] for k, v in values.items() if v is None]
    if missing:
        raise ftdecide.UsageError(
            "deploying on Azure needs " + ", ".join(missing),
            hint=f"export them, or write them to {ftdecide.paths.config_dir() / CONFIG_FILE} "
            "as subscription_id, resource_group, account")
    return Settings(subscription=values["subscription"] or "",
                    resource_group=values["resource_group"] or "",
                    account=values["account"] or "",
                    arm_url=get(ARM_URL_ENV, "arm_url") or DEFAULT_ARM_URL)


def token_provider() -> TokenProvider:
    """``FTDECIDE_AZURE_ARM_TOKEN``, else ``DefaultAzureCredential`` for the ARM scope."""
    token = os.environ.get(ARM_TOKEN_ENV, "").strip()
    if token:
        return lambda: token
    try:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    except ImportError:
        raise ftdecide.AuthenticationError(
            f"deploying needs an ARM token: set {ARM_TOKEN_ENV}, or install azure-identity",
            hint=f"export {ARM_TOKEN_ENV}=$(az account get-access-token --resource "
            "https://management.azure.com --query accessToken -o tsv), or pip install "
            "'ftdecide-azure[entra]' to sign in with DefaultAzureCredential") from None
    inner = get_bearer_token_provider(DefaultAzureCredential(), SCOPE)

    def get() -> str:
        try:
            return inner()
        except Exception as exc:  # azure.core's ClientAuthenticationError and friends
            raise ftdecide.AuthenticationError(
                f"could not get an ARM token from Entra ID: {type(exc).__name__}",
                hint="sign in (`az login`) or set " + ARM_TOKEN_ENV) from None

    return get


def deployment_name(model: str) -> str:
    """A valid deployment name for ``model``: letters, digits, ``-_.``, at most 64."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", model)[:64]


def poll_interval() -> float:
    try:
        return max(0.0, float(os.environ.get(POLL_INTERVAL_ENV) or 5.0))
    except ValueError:
        return 5.0


class Client:
    """The four REST calls, with retries on 429/5xx/network errors honouring Retry-After."""

    def __init__(self, settings: Settings, token: TokenProvider, *, timeout: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.token = token
        self.timeout = timeout
        self.sleep = sleep

    def call(self, method: str, name: str, body: Mapping[str, Any] | None = None
             ) -> tuple[int, Any]:
        url = self.settings.deployment_url(name)
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(ATTEMPTS):
            token = self.token()
            request = urllib.request.Request(url, data=data, method=method, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
                    return response.status, json.loads(raw) if raw else None
            except urllib.error.HTTPError as exc:
                raw = exc.read().replace(token.encode(), b"***") if token else exc.read()
                status, wait = exc.code, exc.headers.get("Retry-After")
                try:
                    payload = json.loads(raw) if raw else None
                except ValueError:
                    payload = raw.decode("utf-8", "replace")[:300]
                if status in (408, 429) or status >= 500:
                    if attempt < ATTEMPTS - 1:
                        self.sleep(_delay(attempt, wait))
                        continue
                return status, payload
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt < ATTEMPTS - 1:
                    self.sleep(_delay(attempt, None))
                    continue
                raise ftdecide.ProviderError(
                    f"could not reach Azure Resource Manager at {self.settings.arm_url}: "
                    f"{getattr(exc, 'reason', exc)}",
                    hint=f"check the network and {ARM_URL_ENV}") from None
        raise AssertionError("unreachable")  # pragma: no cover


def _delay(attempt: int, retry_after: str | None) -> float:
    if retry_after:
        try:
            return min(float(retry_after), 120.0)
        except ValueError:
            pass
    return min(0.5 * 2 ** attempt, 8.0) * (1 - 0.25 * random.random())


def _fail(status: int, payload: Any, doing: str) -> ftdecide.ProviderError:
    err = payload.get("error") if isinstance(payload, Mapping) else None
    text = ""
    if isinstance(err, Mapping):
        text = f"{err.get('code', '')}: {err.get('message', '')}".strip(": ")
    elif payload:
        text = str(payload)
    message = f"Azure Resource Manager refused to {doing} (HTTP {status})" + (
        f": {text}" if text else "")
    if status in (401, 403):
        return ftdecide.AuthenticationError(
            message, hint=f"check {ARM_TOKEN_ENV} (or the Entra ID sign-in) and that the "
            "identity has a Cognitive Services Contributor role on the resource")
    return ftdecide.ProviderError(message)


def deploy(client: Client, *, model: str, name: str, tier: str,
           progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Create (or update) the deployment and wait until it is provisioned."""
    sku = SKUS[tier]
    body = {"sku": {"name": sku, "capacity": 1},
            "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}
    status, payload = client.call("PUT", name, body)
    if status not in (200, 201):
        raise _fail(status, payload, f"deploy {model} as {name}")
    update = {"name": name, "tier": tier, "sku": sku, "model": model,
              "state": _state(payload) or "Accepted"}
    if progress is not None:
        progress(dict(update))
    while update["state"] not in FINAL_STATES:
        client.sleep(poll_interval())
        status, payload = client.call("GET", name)
        if status != 200:
            raise _fail(status, payload, f"read deployment {name}")
        state = _state(payload) or update["state"]
        if state != update["state"]:
            update["state"] = state
            if progress is not None:
                progress(dict(update))
    if update["state"] != "Succeeded":
        err = ((payload or {}).get("properties") or {}).get("error") or {}
        raise ftdecide.ProviderError(
            f"deployment {name} of {model} ended {update['state']}"
            + (f": {err.get('message')}" if err.get("message") else ""),
            hint="see the deployment in the Azure portal; `ftdecide jobs deploy` can retry")
    return update


def undeploy(client: Client, *, name: str,
             progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Delete the deployment and wait until it is gone (a missing one is already gone)."""
    status, payload = client.call("DELETE", name)
    if status not in (200, 202, 204, 404):
        raise _fail(status, payload, f"delete deployment {name}")
    if progress is not None:
        progress({"name": name, "state": "Deleting"})
    while status != 404:
        client.sleep(poll_interval())
        status, payload = client.call("GET", name)
        if status not in (200, 404):
            raise _fail(status, payload, f"read deployment {name}")
    if progress is not None:
        progress({"name": name, "state": "Deleted"})
    return {"name": name, "state": "Deleted"}


def _state(payload: Any) -> str | None:
    if isinstance(payload, Mapping):
        return (payload.get("properties") or {}).get("provisioningState")
    return None
