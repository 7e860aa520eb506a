"""A generated password kept in the stack's state, with no provider plugin to install.

It plays pulumi_random's RandomPassword: generated once at create (Python's `secrets`, letters and
digits), stored encrypted in the state as a secret output, unchanged by later `up`s, replaced
only when its length changes. pulumi-random's plugin is one more binary that a machine with no
release downloads would have to build; this Python dynamic resource runs in the provider process
Pulumi already starts for the kind and kwok clusters.
"""
from __future__ import annotations

import pulumi
import pulumi.dynamic as dynamic


class PasswordProvider(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        import secrets
        import string

        alphabet = string.ascii_letters + string.digits  # pasted into login forms: no special characters
        result = "".join(secrets.choice(alphabet) for _ in range(int(props["length"])))
        return dynamic.CreateResult(id_=secrets.token_hex(8), outs={**props, "result": result})

    def diff(self, id_: str, olds: dict, news: dict) -> dynamic.DiffResult:
        changed = int(olds.get("length", 0)) != int(news.get("length", 0))
        return dynamic.DiffResult(changes=changed, replaces=["length"] if changed else [])


class GeneratedPassword(dynamic.Resource):
    """`.result` is the password, a secret Output."""

    result: pulumi.Output[str]

    def __init__(self, name: str, length: int, opts: pulumi.ResourceOptions | None = None):
        super().__init__(PasswordProvider(), name, {"length": length, "result": None},
                         pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["result"])))
